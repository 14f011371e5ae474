// The citizen protocol's fixed values (docs/protocol.md; backend_client/messages.py is the
// source: tests/unit/test_portal_catalogue.py fails when these drift from it).

export const CITIZEN_PATH = "/v1/citizen";
export const VERSION = 1;
export const CATEGORIES = ["burglary", "vehicle", "drugs", "missing_person", "fly_tipping", "antisocial", "rural", "horse", "canal", "school", "cycle", "business", "violence", "other"];
export const REPORT_STATUSES = ["new", "claimed", "in_progress", "closed"];
export const MAX_TEXT_CHARS = 8000;

// upload: the relay's media limits (backend_client/limits.py and messages.MediaMime;
// tests/unit/test_portal_upload_limits.py fails when these drift from them)
export const MEDIA_CHUNK_BYTES = 524288;
export const MAX_MEDIA_BYTES = 52428800;
export const MAX_MEDIA_PER_REPORT = 8;
export const MAX_IMAGE_PIXELS = 40000000;
export const MEDIA_MIMES = ["image/jpeg", "image/png", "image/webp", "video/mp4"];

// alerts and location (issue 11): backend_client/limits.py LOCATION_TTL_S, CAP statuses
export const LOCATION_TTL_S = 21600;
export const CAP_STATUSES = ["Actual", "Exercise", "System", "Test", "Draft"];
