"""What every API shares: settings and app keys, auth and who may see what,
the one error boundary, query and body parsing, server-sent events,
downloads, and the route records (native endpoints, dialects) with the one
function that mounts them and the OpenAPI builder. No API's routes live here."""
