"""The Salesforce sandbox: a local HTTPS server speaking Salesforce's REST, Bulk 2.0 and auth protocols."""
