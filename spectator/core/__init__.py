"""The Beam-free core: the model, parsing, session statistics and errors. Nothing here imports Beam."""
