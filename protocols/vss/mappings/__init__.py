"""Example VSS mappings (TOML) for opendbc cars; a package so they ship as package data."""
