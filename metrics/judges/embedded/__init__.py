"""The embedded judge: sentence claims, a small support scorer over MiniLM embeddings and lexical evidence."""
