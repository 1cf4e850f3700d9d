"""Sandbox CRMs: local servers that speak the real Salesforce and HubSpot wire protocols."""
