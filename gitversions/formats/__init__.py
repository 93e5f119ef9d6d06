"""Files besides git's: .version.toml, manifest.toml and gitversions.toml."""
