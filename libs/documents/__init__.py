"""Documents people read: tables as CSV and XLSX (formula-safe), Thai PDF pages, Buddhist-Era dates. Kept apart
from libs/events, which is the published language and the event machinery."""
