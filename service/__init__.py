"""Everything that serves users of the metrics: settings, files and rows shared by all (this package's modules),
and, each in its own package, the HTTP server (`server`), the command line (`cli`), the CI gate (`ci`) and
analysis of scored runs (`analysis`)."""
