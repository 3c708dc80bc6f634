"""Client side of the streaming guard (/v1/guard): wraps an app's answer stream so that it stops at an unsupported
sentence. Filled in by the streaming-guard work of issue #21."""
