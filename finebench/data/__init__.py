"""Dataset preparation: official layouts -> item manifests -> benchmark files in the release format."""
