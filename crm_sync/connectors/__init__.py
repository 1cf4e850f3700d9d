"""Clients for the two CRMs over simple-salesforce and hubspot-api-client: the only place HTTP happens."""
