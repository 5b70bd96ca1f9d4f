"""``execstore``, the command line: ``main`` parses and dispatches (serve,
token create, verify, rebuild); ``serve`` runs the app on a port, and
``workers`` runs it in several processes on one port."""
