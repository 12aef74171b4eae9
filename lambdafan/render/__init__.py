"""Everything lambdafan prints, one module per thing printed: `console` (messages), `records`,
`runs`, `deploy`, `results`, `status`, `scripts`, `demo`. Nothing outside this package prints."""
