"""Sizes and counts both ends of the wire enforce. Changing one is a protocol change."""

#: Largest websocket frame either side accepts (bytes). Media travels in chunks below it.
MAX_FRAME_BYTES = 1_048_576
#: Largest raw payload in one media.chunk / media.data frame (before base64).
MEDIA_CHUNK_BYTES = 524_288
#: Largest single media file (bytes).
MAX_MEDIA_BYTES = 50 * 1024 * 1024
#: Most media files attached to one report.
MAX_MEDIA_PER_REPORT = 8
#: Largest decoded image, in pixels (width x height); guards against decompression bombs.
MAX_IMAGE_PIXELS = 40_000_000
#: Longest report text, chat message, alert description (characters).
MAX_TEXT_CHARS = 8_000
#: Longest short fields: headlines, names, categories, references (characters).
MAX_SHORT_CHARS = 200
#: Most vertices in an alert polygon.
MAX_POLYGON_POINTS = 2_000
#: Largest alert circle radius (metres).
MAX_RADIUS_M = 50_000.0
#: Most of its own reports a device is sent by `report.mine` (the newest ones).
MAX_OWN_REPORTS = 100
#: Most events replayed per subscribe batch before the relay sends `subscribed`.
REPLAY_BATCH = 500
#: Seconds a citizen's location fix is kept before it stops counting for targeting.
LOCATION_TTL_S = 6 * 3600
#: Seconds an officer session token lives before it must be refreshed.
TOKEN_TTL_S = 15 * 60
#: Most participant groups in one pilot.
MAX_PILOT_GROUPS = 50
#: Most people one pilot group may plan for.
MAX_PILOT_GROUP_SIZE = 10_000
#: Most invite codes one `pilot.invite` issues.
MAX_INVITES_PER_REQUEST = 500
#: Longest time an invite code may stay valid (seconds: 90 days).
MAX_INVITE_VALID_S = 90 * 24 * 3600
#: Longest invite code a device may send (the code, its dashes and spaces).
MAX_INVITE_CODE_CHARS = 32
#: A participant counts as active when seen (joined, reported, chatted) this recently.
PILOT_ACTIVE_WINDOW_S = 24 * 3600
#: Longest pilot plan (TOML characters) a `pilot.review` may carry.
MAX_REVIEW_PLAN_CHARS = 200_000
#: Most running stretches (and prompt times) of a live run a `pilot.review` may carry.
MAX_CLOCK_SEGMENTS = 2_000
#: Most of each part a `pilot.review` plan may hold: what a review costs grows with them
#: (expected actions x the pilot's reports); the shipped plan has 8 acts, 16 injects, 11
#: expected actions, 2 zones and 3 days.
MAX_REVIEW_ACTS = 200
MAX_REVIEW_INJECTS = 1_000
MAX_REVIEW_EXPECTATIONS = 200
MAX_REVIEW_ZONES = 50
MAX_REVIEW_DAYS = 400
#: Largest unix time, and largest plan time either way, a `pilot.review` clock or prompt
#: may carry (seconds; 10^10 is the year 2286): past it, dates cannot be made of them.
MAX_REVIEW_TIME_S = 10_000_000_000
#: Fastest clock a `pilot.review` may name (plan seconds per second; rehearsals run 2,000x).
MAX_REVIEW_SPEED = 100_000.0
