"""Controller-side onboarding tools: a registrar's CSV into the roster, welcome letters."""
