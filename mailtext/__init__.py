"""The text of mail: parsing raw messages, HTML to text, quote and signature stripping, and the
routing text a model is trained on and served with. Shared by app/ (ingest) and classifiers/
(training); it imports neither, nor any database code."""
