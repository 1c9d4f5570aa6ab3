"""Configuration: the TOML file ops edit, validated with pydantic."""
