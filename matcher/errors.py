"""Typed errors of the matcher library.

Callers (the CLI, the web service) turn these into a line of output or a 4xx
answer; each carries a stable ``code`` so that the mapping never depends on the
wording of a message.
"""

from __future__ import annotations


class MatcherError(ValueError):
    """Base of every error this library raises on bad input."""

    code = "matcher_error"


class ImageError(MatcherError):
    """The bytes given could not be turned into pixels safely."""

    code = "image_error"


class EmptyImageError(ImageError):
    """A zero-byte file or buffer."""

    code = "image_empty"


class NotAnImageError(ImageError):
    """The bytes are not an image in any format we can recognise."""

    code = "image_not_an_image"


class UnsupportedImageFormatError(ImageError):
    """An image format we recognise but do not decode (e.g. AVIF without support)."""

    code = "image_unsupported_format"


class CorruptImageError(ImageError):
    """The image is truncated or its data is damaged."""

    code = "image_corrupt"


class ImageTooLargeError(ImageError):
    """Too many pixels or too many bytes: refused before decoding (decompression bombs)."""

    code = "image_too_large"


class HashFormatError(MatcherError):
    """A hash string that is not valid for its signal type (length, characters)."""

    code = "hash_malformed"


class UnknownSignalError(MatcherError):
    """A signal type name that is not registered."""

    code = "signal_unknown"


class UnreadableFileError(MatcherError):
    """A file that could not be opened or read (missing, a folder, no permission)."""

    code = "file_unreadable"


class IndexFormatError(MatcherError):
    """A saved hash index that is not a valid index file (wrong format, shapes, dtypes, bounds)."""

    code = "index_malformed"


class VideoError(MatcherError):
    """The bytes given could not be turned into sampled video frames safely."""

    code = "video_error"


class EmptyVideoError(VideoError):
    """Zero bytes, or a video stream with no frame that decodes (a zero-length video)."""

    code = "video_empty"


class NotAVideoError(VideoError):
    """Not a container we open (an image, a document, or bytes we cannot recognise)."""

    code = "video_not_a_video"


class NoVideoStreamError(VideoError):
    """A container with no moving picture in it (audio only, or only cover art)."""

    code = "video_no_video_stream"


class UnsupportedVideoFormatError(VideoError):
    """A container we open holding a video codec we do not decode."""

    code = "video_unsupported_format"


class CorruptVideoError(VideoError):
    """The container or its video stream is truncated or damaged."""

    code = "video_corrupt"


class VideoTooLargeError(VideoError):
    """Too many bytes, or frames with too many pixels: refused before decoding them."""

    code = "video_too_large"


class VideoTooLongError(VideoError):
    """Longer than the duration or frame-count limits: refused, or stopped once it passes them."""

    code = "video_too_long"
