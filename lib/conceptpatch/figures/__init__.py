"""Report figures grouped by what they show: layers, training, languages, categories."""
