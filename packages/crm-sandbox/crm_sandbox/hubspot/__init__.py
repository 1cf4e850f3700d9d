"""The HubSpot sandbox: a local server speaking HubSpot's CRM v3/v4 wire protocol over SQLite state."""
