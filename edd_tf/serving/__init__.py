"""Floor 6, the trained network leaves the toolkit: `export` writes a SavedModel.

Two signatures (`serving_default`: uint8 pixels; `serving_bytes`: encoded
images, decoded and resized in the graph), labels.txt and metadata.json.
"""
