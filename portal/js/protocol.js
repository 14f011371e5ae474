// The citizen protocol's fixed values (docs/protocol.md; backend_client/messages.py is the
// source: tests/unit/test_portal_catalogue.py fails when these drift from it).

export const CITIZEN_PATH = "/v1/citizen";
export const VERSION = 1;
export const CATEGORIES = ["burglary", "vehicle", "drugs", "missing_person", "fly_tipping", "antisocial", "rural", "horse", "canal", "school", "cycle", "business", "violence", "other"];
export const REPORT_STATUSES = ["new", "claimed", "in_progress", "closed"];
export const MAX_TEXT_CHARS = 8000;
// alerts and location (issue 11): backend_client/limits.py LOCATION_TTL_S, CAP statuses
export const LOCATION_TTL_S = 21600;
export const CAP_STATUSES = ["Actual", "Exercise", "System", "Test", "Draft"];
