"""Working on one script: `script new` (starter), `script test` (trial), `script list` (catalog)."""
