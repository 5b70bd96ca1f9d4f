"""What a request does to the store, whichever API it came through: the
writes that the native API and a dialect both offer (cancel rules, webhook
triggers). Above the HTTP plumbing, below every API."""
