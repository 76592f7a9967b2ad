// Every visible string of the victim's pages, in English, French and Dutch.
// Elements carry data-i18n="key" (their text) or data-i18n-attr="attr:key,..." and
// are translated in place; scripts use t(key, {values}) for the strings they build.
// The language comes from navigator.languages unless the person picks one (?lang=xx);
// the choice is kept in the URL only (no cookie, no storage on a possibly shared device).

export const STRINGS = {
  en: {
    skip: "Skip to the main content",
    brand: "Take back control of your pictures",
    language: "Language",
    supportTitle: "You are not alone. Free help, any time:",
    trustedAdult: "You can also talk to an adult you trust: a parent, a teacher, a school counsellor or a doctor. This is not your fault, and asking for help is brave.",
    footerPrivacy: "This page uses no cookies, no trackers and nothing from other websites.",
    noscript: "This page needs JavaScript to make fingerprints of your pictures on your device.",
    titleHash: "Stop your pictures being shared",
    h1Hash: "Stop your pictures from being shared",
    leadHash: "If a nude or intimate photo or video of you is shared, or someone threatens to share it, this page can help get it removed from the websites and apps that work with us.",
    promise: "Your pictures never leave this device. We make a \u201cfingerprint\u201d of each one here, a short code made of numbers and letters. Only those codes are sent. Nobody can turn a code back into your picture.",
    chooseTitle: "Choose the photos and videos",
    chooseButton: "Choose photos or videos",
    chooseHelp: "You can pick several at once, or drag them here. Only you can see them.",
    dropHere: "Drop them here",
    progressLabel: "Making fingerprints",
    progress: "Making fingerprints: {done} of {total} ready.",
    progressDone: "All fingerprints are ready ({total}).",
    itemWaiting: "Waiting\u2026",
    itemWorking: "Making its fingerprint\u2026",
    itemReady: "Fingerprint ready",
    itemReadyVideo: "Fingerprint of the video file ready. This browser cannot read the video's pictures, so only exact copies of this file can be found.",
    itemFailed: "This one could not be read on this device. You can try a copy saved as JPEG or PNG.",
    itemTooPlain: "This picture is too plain (almost one colour) to be recognised reliably, so it will not be sent.",
    sentVideoFrames: "Item {n} (video): 1 code for the file and {count} codes for its pictures, one a second",
    stopLabel: "Stop reading item {n} and remove it from the list",
    stop: "Stop",
    itemVideoFailed: "This video could not be read on this device.",
    itemTooLarge: "This video's picture is too large to be read here.",
    itemTooLong: "This video is longer than {minutes} minutes, the longest we can take. You can cut it into shorter parts and choose those.",
    itemReadyFrames: "Fingerprints of the video ready",
    itemFrames: "Reading the video: {done} of {total} pictures done…",
    videoLabel: "Video",
    photoAlt: "Your photo {n} (only visible to you)",
    remove: "Remove",
    removeLabel: "Remove item {n} from the list",
    itemName: "Item {n}",
    reviewTitle: "Check what will be sent",
    reviewText: "Only the codes below will be sent: no picture, no video, no file name, no name, no e-mail, no phone number.",
    reviewShow: "Show the codes",
    sentPhoto: "Item {n} (photo): {count} codes",
    sentVideo: "Item {n} (video): 1 code",
    sendTitle: "Send the codes",
    consent: "I understand that only these codes are sent, and I want them used to find and remove copies of these pictures. I can withdraw them later.",
    submit: "Send the codes",
    submitHelp: "The button works once the fingerprints are ready and the box is ticked.",
    sending: "Sending\u2026",
    errorNetwork: "The codes could not be sent. Maybe the internet connection dropped. Nothing was lost: check your connection and press \u201cSend the codes\u201d again.",
    errorServer: "Something went wrong on our side and nothing was saved. Please try again in a moment.",
    errorNothing: "None of these pictures can be used (they are too plain to be recognised). Nothing was saved. You can try other pictures.",
    errorTooMany: "That is more pictures than one case can hold. Please remove some and send them in a second case afterwards.",
    errorStrategy: "This page could not finish loading. Please check your connection and reload the page.",
    resultTitle: "Done. Your case is open.",
    resultKeep: "Keep these two codes somewhere safe. You need both to check your case or to withdraw it. The PIN is shown only this once.",
    caseNumber: "Case number",
    pin: "PIN",
    copy: "Copy",
    copied: "Copied.",
    copyFailed: "Could not copy. Select the text and copy it yourself.",
    download: "Save as a file",
    print: "Print",
    fileTitle: "Your case",
    fileText: "Keep this safe. You need both codes to check or withdraw your case.",
    fileWhere: "Check or withdraw it here:",
    refused: "{count} of your items could not be used (too plain to be recognised) and were not saved. The others were.",
    nextTitle: "What happens next",
    next1: "The codes are now in our list. Websites and apps that work with us check new uploads against it.",
    next2: "If someone tries to upload one of your pictures there, a trained person checks it and it can be blocked or removed.",
    next3: "You can check your case at any time with your case number and PIN, and see how many copies were found.",
    next4: "You can withdraw your case whenever you want. Your codes then stop being used, and the websites are told to stop using them too.",
    next5: "Not every website works with us. If you see your picture somewhere, you can also report it there, and talk to someone you trust.",
    toStatus: "Already sent codes? Check or withdraw your case",
    titleStatus: "Your case",
    h1Status: "Check your case",
    leadStatus: "Enter the case number and the PIN you got when you sent your codes.",
    caseHelp: "12 letters and numbers, for example 2KEJ‑804F‑H7EE.",
    checkCase: "Check my case",
    checking: "Checking\u2026",
    state: "State",
    created: "Opened",
    pictures: "Pictures and videos",
    matches: "Copies found",
    removals: "Copies removed",
    stateActive: "Active: websites are looking for your pictures.",
    stateWithdrawn: "Withdrawn: your codes are no longer used to find your pictures.",
    stateOther: "{state}",
    withdrawTitle: "Withdraw the case",
    withdrawText: "If you withdraw, your codes stop being used and websites stop looking for your pictures. This cannot be undone, but you can always send them again.",
    withdraw: "Withdraw my case",
    confirmText: "Are you sure? Websites will stop looking for your pictures.",
    confirmYes: "Yes, withdraw",
    confirmNo: "No, keep it",
    withdrawn: "Your case is withdrawn. {count} codes are no longer used.",
    errorAuth: "The case number or the PIN is not right. Please check them and try again.",
    errorLocked: "Too many tries with a wrong PIN. Please wait {seconds} seconds and try again.",
    errorFormat: "Please enter your case number and your PIN.",
    errorStatusNetwork: "We could not reach the server. Check your internet connection and try again.",
    toHash: "Send codes for more pictures",
  },
  fr: {
    skip: "Aller au contenu principal",
    brand: "Reprends le contr\u00f4le de tes images",
    language: "Langue",
    supportTitle: "Tu n'es pas seul\u00b7e. De l'aide gratuite, \u00e0 tout moment :",
    trustedAdult: "Tu peux aussi en parler \u00e0 un adulte de confiance : un parent, un\u00b7e prof, un\u00b7e \u00e9ducateur\u00b7rice, le centre PMS ou un m\u00e9decin. Ce n'est pas ta faute, et demander de l'aide, c'est courageux.",
    footerPrivacy: "Cette page n'utilise ni cookies, ni traceurs, ni rien venant d'autres sites.",
    noscript: "Cette page a besoin de JavaScript pour cr\u00e9er les empreintes de tes images sur ton appareil.",
    titleHash: "Emp\u00eacher la diffusion de tes images",
    h1Hash: "Emp\u00eache la diffusion de tes images",
    leadHash: "Si une photo ou une vid\u00e9o intime ou d\u00e9nud\u00e9e de toi circule, ou si quelqu'un menace de la diffuser, cette page peut aider \u00e0 la faire retirer des sites et applis qui travaillent avec nous.",
    promise: "Tes images ne quittent jamais cet appareil. Nous cr\u00e9ons ici une \u00ab empreinte \u00bb de chacune, un court code fait de chiffres et de lettres. Seuls ces codes sont envoy\u00e9s. Personne ne peut retrouver ton image \u00e0 partir d'un code.",
    chooseTitle: "Choisis les photos et vid\u00e9os",
    chooseButton: "Choisir des photos ou vid\u00e9os",
    chooseHelp: "Tu peux en choisir plusieurs d'un coup, ou les glisser ici. Toi seul\u00b7e peux les voir.",
    dropHere: "D\u00e9pose-les ici",
    progressLabel: "Cr\u00e9ation des empreintes",
    progress: "Cr\u00e9ation des empreintes : {done} sur {total} pr\u00eates.",
    progressDone: "Toutes les empreintes sont pr\u00eates ({total}).",
    itemWaiting: "En attente\u2026",
    itemWorking: "Cr\u00e9ation de l'empreinte\u2026",
    itemReady: "Empreinte pr\u00eate",
    itemReadyVideo: "Empreinte du fichier vid\u00e9o pr\u00eate. Ce navigateur ne peut pas lire les images de la vid\u00e9o : seules les copies exactes de ce fichier pourront \u00eatre trouv\u00e9es.",
    itemFailed: "Celle-ci n'a pas pu \u00eatre lue sur cet appareil. Tu peux essayer une copie enregistr\u00e9e en JPEG ou PNG.",
    itemTooPlain: "Cette image est trop uniforme (presque d'une seule couleur) pour \u00eatre reconnue de fa\u00e7on fiable : elle ne sera pas envoy\u00e9e.",
    sentVideoFrames: "\u00c9l\u00e9ment {n} (vid\u00e9o) : 1 code pour le fichier et {count} codes pour ses images, une par seconde",
    stopLabel: "Arr\u00eater la lecture de l'\u00e9l\u00e9ment {n} et le retirer de la liste",
    stop: "Arr\u00eater",
    itemVideoFailed: "Cette vid\u00e9o n'a pas pu \u00eatre lue sur cet appareil.",
    itemTooLarge: "L'image de cette vid\u00e9o est trop grande pour \u00eatre lue ici.",
    itemTooLong: "Cette vid\u00e9o dure plus de {minutes} minutes, le maximum accept\u00e9. Tu peux la couper en parties plus courtes et choisir celles-ci.",
    itemReadyFrames: "Empreintes de la vid\u00e9o pr\u00eates",
    itemFrames: "Lecture de la vid\u00e9o : {done} images sur {total}\u2026",
    videoLabel: "Vid\u00e9o",
    photoAlt: "Ta photo {n} (visible par toi seul\u00b7e)",
    remove: "Retirer",
    removeLabel: "Retirer l'\u00e9l\u00e9ment {n} de la liste",
    itemName: "\u00c9l\u00e9ment {n}",
    reviewTitle: "V\u00e9rifie ce qui sera envoy\u00e9",
    reviewText: "Seuls les codes ci-dessous seront envoy\u00e9s : aucune image, aucune vid\u00e9o, aucun nom de fichier, aucun nom, aucune adresse e-mail, aucun num\u00e9ro de t\u00e9l\u00e9phone.",
    reviewShow: "Afficher les codes",
    sentPhoto: "\u00c9l\u00e9ment {n} (photo) : {count} codes",
    sentVideo: "\u00c9l\u00e9ment {n} (vid\u00e9o) : 1 code",
    sendTitle: "Envoyer les codes",
    consent: "Je comprends que seuls ces codes sont envoy\u00e9s, et je veux qu'ils servent \u00e0 trouver et retirer les copies de ces images. Je peux les retirer plus tard.",
    submit: "Envoyer les codes",
    submitHelp: "Le bouton fonctionne quand les empreintes sont pr\u00eates et la case coch\u00e9e.",
    sending: "Envoi\u2026",
    errorNetwork: "Les codes n'ont pas pu \u00eatre envoy\u00e9s. La connexion internet a peut-\u00eatre coup\u00e9. Rien n'est perdu : v\u00e9rifie ta connexion et appuie \u00e0 nouveau sur \u00ab Envoyer les codes \u00bb.",
    errorServer: "Un probl\u00e8me est survenu de notre c\u00f4t\u00e9 et rien n'a \u00e9t\u00e9 enregistr\u00e9. R\u00e9essaie dans un moment.",
    errorNothing: "Aucune de ces images ne peut \u00eatre utilis\u00e9e (trop uniformes pour \u00eatre reconnues). Rien n'a \u00e9t\u00e9 enregistr\u00e9. Tu peux essayer d'autres images.",
    errorTooMany: "C'est plus d'images qu'un dossier ne peut en contenir. Retires-en quelques-unes et envoie-les ensuite dans un second dossier.",
    errorStrategy: "Cette page n'a pas pu finir de se charger. V\u00e9rifie ta connexion et recharge la page.",
    resultTitle: "C'est fait. Ton dossier est ouvert.",
    resultKeep: "Garde ces deux codes en lieu s\u00fbr. Il te faut les deux pour consulter ou retirer ton dossier. Le PIN n'est affich\u00e9 qu'une seule fois.",
    caseNumber: "Num\u00e9ro de dossier",
    pin: "PIN",
    copy: "Copier",
    copied: "Copi\u00e9.",
    copyFailed: "Copie impossible. S\u00e9lectionne le texte et copie-le toi-m\u00eame.",
    download: "Enregistrer dans un fichier",
    print: "Imprimer",
    fileTitle: "Ton dossier",
    fileText: "Garde ceci en lieu s\u00fbr. Il te faut les deux codes pour consulter ou retirer ton dossier.",
    fileWhere: "Pour le consulter ou le retirer :",
    refused: "{count} de tes \u00e9l\u00e9ments n'ont pas pu \u00eatre utilis\u00e9s (trop uniformes) et n'ont pas \u00e9t\u00e9 enregistr\u00e9s. Les autres, oui.",
    nextTitle: "Et maintenant ?",
    next1: "Les codes sont maintenant dans notre liste. Les sites et applis qui travaillent avec nous comparent chaque nouvel envoi avec elle.",
    next2: "Si quelqu'un essaie d'y publier une de tes images, une personne form\u00e9e v\u00e9rifie et elle peut \u00eatre bloqu\u00e9e ou retir\u00e9e.",
    next3: "Tu peux consulter ton dossier \u00e0 tout moment avec ton num\u00e9ro de dossier et ton PIN, et voir combien de copies ont \u00e9t\u00e9 trouv\u00e9es.",
    next4: "Tu peux retirer ton dossier quand tu veux. Tes codes ne sont alors plus utilis\u00e9s, et les sites sont pr\u00e9venus de ne plus les utiliser non plus.",
    next5: "Tous les sites ne travaillent pas avec nous. Si tu vois ton image quelque part, tu peux aussi la signaler sur ce site, et en parler \u00e0 quelqu'un de confiance.",
    toStatus: "Codes d\u00e9j\u00e0 envoy\u00e9s ? Consulte ou retire ton dossier",
    titleStatus: "Ton dossier",
    h1Status: "Consulter ton dossier",
    leadStatus: "Entre le num\u00e9ro de dossier et le PIN re\u00e7us quand tu as envoy\u00e9 tes codes.",
    caseHelp: "12 lettres et chiffres, par exemple 2KEJ‑804F‑H7EE.",
    checkCase: "Consulter mon dossier",
    checking: "V\u00e9rification\u2026",
    state: "\u00c9tat",
    created: "Ouvert le",
    pictures: "Images et vid\u00e9os",
    matches: "Copies trouv\u00e9es",
    removals: "Copies retir\u00e9es",
    stateActive: "Actif : les sites recherchent tes images.",
    stateWithdrawn: "Retir\u00e9 : tes codes ne servent plus \u00e0 retrouver tes images.",
    stateOther: "{state}",
    withdrawTitle: "Retirer le dossier",
    withdrawText: "Si tu retires ton dossier, tes codes ne sont plus utilis\u00e9s et les sites arr\u00eatent de rechercher tes images. C'est d\u00e9finitif, mais tu peux toujours les renvoyer.",
    withdraw: "Retirer mon dossier",
    confirmText: "Tu es s\u00fbr\u00b7e ? Les sites arr\u00eateront de rechercher tes images.",
    confirmYes: "Oui, retirer",
    confirmNo: "Non, le garder",
    withdrawn: "Ton dossier est retir\u00e9. {count} codes ne sont plus utilis\u00e9s.",
    errorAuth: "Le num\u00e9ro de dossier ou le PIN n'est pas correct. V\u00e9rifie-les et r\u00e9essaie.",
    errorLocked: "Trop d'essais avec un mauvais PIN. Attends {seconds} secondes et r\u00e9essaie.",
    errorFormat: "Entre ton num\u00e9ro de dossier et ton PIN.",
    errorStatusNetwork: "Impossible de joindre le serveur. V\u00e9rifie ta connexion internet et r\u00e9essaie.",
    toHash: "Envoyer les codes d'autres images",
  },
  nl: {
    skip: "Naar de hoofdinhoud",
    brand: "Neem de controle over je beelden terug",
    language: "Taal",
    supportTitle: "Je staat er niet alleen voor. Gratis hulp, altijd:",
    trustedAdult: "Je kunt ook praten met een volwassene die je vertrouwt: een ouder, een leerkracht, het CLB of een dokter. Het is niet jouw schuld, en hulp vragen is moedig.",
    footerPrivacy: "Deze pagina gebruikt geen cookies, geen trackers en niets van andere websites.",
    noscript: "Deze pagina heeft JavaScript nodig om op je toestel vingerafdrukken van je beelden te maken.",
    titleHash: "Voorkom dat je beelden gedeeld worden",
    h1Hash: "Voorkom dat je beelden gedeeld worden",
    leadHash: "Wordt er een naaktfoto of intieme video van jou gedeeld, of dreigt iemand ermee? Dan kan deze pagina helpen om die te laten verwijderen van de websites en apps die met ons samenwerken.",
    promise: "Je beelden verlaten dit toestel nooit. We maken hier een \u201cvingerafdruk\u201d van elk beeld: een korte code van cijfers en letters. Alleen die codes worden verstuurd. Niemand kan van een code je beeld terugmaken.",
    chooseTitle: "Kies de foto's en video's",
    chooseButton: "Foto's of video's kiezen",
    chooseHelp: "Je kunt er meerdere tegelijk kiezen, of ze hierheen slepen. Alleen jij kunt ze zien.",
    dropHere: "Laat ze hier los",
    progressLabel: "Vingerafdrukken maken",
    progress: "Vingerafdrukken maken: {done} van {total} klaar.",
    progressDone: "Alle vingerafdrukken zijn klaar ({total}).",
    itemWaiting: "Even wachten\u2026",
    itemWorking: "Vingerafdruk maken\u2026",
    itemReady: "Vingerafdruk klaar",
    itemReadyVideo: "Vingerafdruk van het videobestand klaar. Deze browser kan de beelden van de video niet lezen, dus alleen exacte kopie\u00ebn van dit bestand kunnen gevonden worden.",
    itemFailed: "Deze kon op dit toestel niet gelezen worden. Probeer een kopie als JPEG of PNG.",
    itemTooPlain: "Dit beeld is te egaal (bijna \u00e9\u00e9n kleur) om betrouwbaar herkend te worden, dus het wordt niet verstuurd.",
    sentVideoFrames: "Item {n} (video): 1 code voor het bestand en {count} codes voor zijn beelden, \u00e9\u00e9n per seconde",
    stopLabel: "Stoppen met item {n} lezen en het uit de lijst verwijderen",
    stop: "Stoppen",
    itemVideoFailed: "Deze video kon op dit toestel niet gelezen worden.",
    itemTooLarge: "Het beeld van deze video is te groot om hier gelezen te worden.",
    itemTooLong: "Deze video duurt langer dan {minutes} minuten, het maximum. Je kunt hem in kortere stukken knippen en die kiezen.",
    itemReadyFrames: "Vingerafdrukken van de video klaar",
    itemFrames: "De video lezen: {done} van {total} beelden klaar\u2026",
    videoLabel: "Video",
    photoAlt: "Je foto {n} (alleen voor jou zichtbaar)",
    remove: "Verwijderen",
    removeLabel: "Item {n} uit de lijst verwijderen",
    itemName: "Item {n}",
    reviewTitle: "Bekijk wat er verstuurd wordt",
    reviewText: "Alleen de codes hieronder worden verstuurd: geen foto, geen video, geen bestandsnaam, geen naam, geen e-mailadres, geen telefoonnummer.",
    reviewShow: "Toon de codes",
    sentPhoto: "Item {n} (foto): {count} codes",
    sentVideo: "Item {n} (video): 1 code",
    sendTitle: "Verstuur de codes",
    consent: "Ik begrijp dat alleen deze codes verstuurd worden, en ik wil dat ze gebruikt worden om kopie\u00ebn van deze beelden te vinden en te verwijderen. Ik kan ze later intrekken.",
    submit: "Verstuur de codes",
    submitHelp: "De knop werkt zodra de vingerafdrukken klaar zijn en het vakje aangevinkt is.",
    sending: "Versturen\u2026",
    errorNetwork: "De codes konden niet verstuurd worden. Misschien viel de internetverbinding weg. Er is niets verloren: controleer je verbinding en druk opnieuw op \u201cVerstuur de codes\u201d.",
    errorServer: "Er ging bij ons iets mis en er is niets bewaard. Probeer het zo meteen opnieuw.",
    errorNothing: "Geen van deze beelden is bruikbaar (te egaal om herkend te worden). Er is niets bewaard. Je kunt andere beelden proberen.",
    errorTooMany: "Dat zijn meer beelden dan een dossier kan bevatten. Verwijder er een paar en verstuur die daarna in een tweede dossier.",
    errorStrategy: "Deze pagina kon niet volledig laden. Controleer je verbinding en laad de pagina opnieuw.",
    resultTitle: "Gelukt. Je dossier is geopend.",
    resultKeep: "Bewaar deze twee codes op een veilige plek. Je hebt ze allebei nodig om je dossier te bekijken of in te trekken. De pincode wordt maar \u00e9\u00e9n keer getoond.",
    caseNumber: "Dossiernummer",
    pin: "Pincode",
    copy: "Kopi\u00ebren",
    copied: "Gekopieerd.",
    copyFailed: "Kopi\u00ebren lukte niet. Selecteer de tekst en kopieer hem zelf.",
    download: "Opslaan als bestand",
    print: "Afdrukken",
    fileTitle: "Je dossier",
    fileText: "Bewaar dit veilig. Je hebt beide codes nodig om je dossier te bekijken of in te trekken.",
    fileWhere: "Bekijken of intrekken kan hier:",
    refused: "{count} van je items waren niet bruikbaar (te egaal) en zijn niet bewaard. De andere wel.",
    nextTitle: "Wat gebeurt er nu?",
    next1: "De codes staan nu in onze lijst. Websites en apps die met ons samenwerken, vergelijken nieuwe uploads ermee.",
    next2: "Probeert iemand daar een van je beelden te uploaden, dan bekijkt een opgeleide medewerker het en kan het geblokkeerd of verwijderd worden.",
    next3: "Je kunt je dossier altijd bekijken met je dossiernummer en pincode, en zien hoeveel kopie\u00ebn er gevonden zijn.",
    next4: "Je kunt je dossier intrekken wanneer je wilt. Je codes worden dan niet meer gebruikt, en de websites krijgen te horen dat ze ze ook niet meer mogen gebruiken.",
    next5: "Niet elke website werkt met ons samen. Zie je je beeld ergens, meld het dan ook daar, en praat erover met iemand die je vertrouwt.",
    toStatus: "Al codes verstuurd? Bekijk of trek je dossier in",
    titleStatus: "Je dossier",
    h1Status: "Bekijk je dossier",
    leadStatus: "Vul het dossiernummer en de pincode in die je kreeg toen je je codes verstuurde.",
    caseHelp: "12 letters en cijfers, bijvoorbeeld 2KEJ‑804F‑H7EE.",
    checkCase: "Bekijk mijn dossier",
    checking: "Bezig\u2026",
    state: "Status",
    created: "Geopend op",
    pictures: "Foto's en video's",
    matches: "Kopie\u00ebn gevonden",
    removals: "Kopie\u00ebn verwijderd",
    stateActive: "Actief: websites zoeken naar je beelden.",
    stateWithdrawn: "Ingetrokken: je codes worden niet meer gebruikt om je beelden te vinden.",
    stateOther: "{state}",
    withdrawTitle: "Dossier intrekken",
    withdrawText: "Als je intrekt, worden je codes niet meer gebruikt en zoeken websites niet meer naar je beelden. Dat is definitief, maar je kunt ze altijd opnieuw versturen.",
    withdraw: "Mijn dossier intrekken",
    confirmText: "Weet je het zeker? Websites zoeken dan niet meer naar je beelden.",
    confirmYes: "Ja, intrekken",
    confirmNo: "Nee, behouden",
    withdrawn: "Je dossier is ingetrokken. {count} codes worden niet meer gebruikt.",
    errorAuth: "Het dossiernummer of de pincode klopt niet. Controleer ze en probeer opnieuw.",
    errorLocked: "Te vaak een verkeerde pincode. Wacht {seconds} seconden en probeer opnieuw.",
    errorFormat: "Vul je dossiernummer en je pincode in.",
    errorStatusNetwork: "De server is niet bereikbaar. Controleer je internetverbinding en probeer opnieuw.",
    toHash: "Codes versturen voor meer beelden",
  },
};

export const LANGUAGES = Object.keys(STRINGS);

let current = "en";

/** The language to start in: ?lang=xx, else the first of the browser's languages we have. */
export function initialLanguage() {
  const asked = new URLSearchParams(location.search).get("lang");
  if (asked && STRINGS[asked]) return asked;
  for (const tag of navigator.languages || [navigator.language || "en"]) {
    const base = String(tag).toLowerCase().split("-")[0];
    if (STRINGS[base]) return base;
  }
  return "en";
}

export function language() {
  return current;
}

/** The string `key` in the current language, with {name} placeholders filled in. */
export function t(key, values = {}) {
  const text = STRINGS[current][key] ?? STRINGS.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in values ? String(values[name]) : `{${name}}`));
}

const listeners = [];

/** Call `fn` after every language change (to redraw strings built by scripts). */
export function onLanguageChange(fn) {
  listeners.push(fn);
}

/** Translate the document into `lang`, and keep links to the other page in that language. */
export function setLanguage(lang) {
  current = STRINGS[lang] ? lang : "en";
  document.documentElement.lang = current;
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll("[data-i18n-attr]")) {
    for (const pair of el.dataset.i18nAttr.split(",")) {
      const [attr, key] = pair.split(":");
      el.setAttribute(attr.trim(), t(key.trim()));
    }
  }
  for (const el of document.querySelectorAll(".support-label")) {
    el.textContent = el.dataset[`label${current[0].toUpperCase()}${current.slice(1)}`] || el.dataset.labelEn;
  }
  for (const button of document.querySelectorAll("[data-lang]")) {
    button.setAttribute("aria-pressed", String(button.dataset.lang === current));
  }
  for (const link of document.querySelectorAll("a[href^='/']")) {
    const url = new URL(link.getAttribute("href"), location.origin);
    url.searchParams.set("lang", current);
    link.setAttribute("href", url.pathname + url.search);
  }
  listeners.forEach((fn) => fn(current));
}

/** Wire the visible language switch and translate the page. */
export function setUpLanguage() {
  for (const button of document.querySelectorAll("[data-lang]")) {
    button.addEventListener("click", () => {
      setLanguage(button.dataset.lang);
      const url = new URL(location.href);
      url.searchParams.set("lang", button.dataset.lang);
      history.replaceState(null, "", url.pathname + url.search + url.hash);
    });
  }
  setLanguage(initialLanguage());
}
