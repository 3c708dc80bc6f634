"""Production traffic: records sent without waiting (or from OTLP traces), scored in the background, watched."""
