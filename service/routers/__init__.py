"""HTTP routers, one per actor: cases (victims), match (platforms), health (operators)."""
