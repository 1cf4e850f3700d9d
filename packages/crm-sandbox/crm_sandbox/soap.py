"""SOAP partner API envelopes: login and merge responses laid out as clients parse them (unprefixed partner tags),
faults, and the reading of request envelopes by local name whatever prefixes the client chose."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"
_ENVELOPE_OPEN = ('<?xml version="1.0" encoding="UTF-8"?>'
                  '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
                  'xmlns="urn:partner.soap.sforce.com" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">')


def soap_login_response(base_url: str, version: str, org_id: str, user_id: str, session_id: str, username: str,
                        seconds_valid: int) -> str:
    server = f"{base_url}/services/Soap/u/{version}/{org_id}"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns="urn:partner.soap.sforce.com" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        "<soapenv:Body><loginResponse><result>"
        f"<metadataServerUrl>{base_url}/services/Soap/m/{version}/{org_id}</metadataServerUrl>"
        "<passwordExpired>false</passwordExpired><sandbox>true</sandbox>"
        f"<serverUrl>{server}</serverUrl><sessionId>{escape(session_id)}</sessionId><userId>{user_id}</userId>"
        f"<userInfo><organizationId>{org_id}</organizationId><userEmail>{escape(username)}</userEmail>"
        f"<userName>{escape(username)}</userName><sessionSecondsValid>{seconds_valid}</sessionSecondsValid>"
        "</userInfo></result></loginResponse></soapenv:Body></soapenv:Envelope>"
    )


def soap_fault(code: str, message: str, fault_type: str = "LoginFault", faultcode: str | None = None) -> str:
    """A partner API fault: login's LoginFault (bare faultcode), others an ``sf:``-coded UnexpectedErrorFault."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:sf="urn:fault.partner.soap.sforce.com" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        f"<soapenv:Body><soapenv:Fault><faultcode>{faultcode or code}</faultcode><faultstring>{code}: "
        f'{escape(message)}</faultstring><detail><sf:{fault_type} xsi:type="sf:{fault_type}">'
        f"<sf:exceptionCode>{code}</sf:exceptionCode><sf:exceptionMessage>{escape(message)}</sf:exceptionMessage>"
        f"</sf:{fault_type}></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>"
    )


def soap_api_fault(code: str, message: str) -> str:
    """The fault of an API call that fails whole (INVALID_SESSION_ID, REQUEST_LIMIT_EXCEEDED, ...)."""
    return soap_fault(code, message, "UnexpectedErrorFault", f"sf:{code}")


def soap_client_fault(message: str) -> str:
    """The SOAP stack's own fault for an envelope it cannot read or an operation the WSDL lacks."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
        f"<soapenv:Body><soapenv:Fault><faultcode>soapenv:Client</faultcode><faultstring>{escape(message)}"
        "</faultstring></soapenv:Fault></soapenv:Body></soapenv:Envelope>"
    )


# ---- requests -----------------------------------------------------------------------------------------------
def local_name(tag: str) -> str:
    return tag.rpartition("}")[2]


def _children(element: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in element if local_name(c.tag) == name]


@dataclass(frozen=True)
class Envelope:
    """A request envelope: the call (the Body's first element), its SessionHeader, or why it could not be read."""

    call: str = ""
    call_tag: str = ""
    session_id: str | None = None
    payload: ET.Element | None = None
    error: str | None = None


def parse_envelope(body: bytes) -> Envelope:
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        return Envelope(error=f"Malformed SOAP envelope: {exc}")
    if local_name(root.tag) != "Envelope":
        return Envelope(error=f"Expected a SOAP Envelope, found {local_name(root.tag)}")
    bodies = _children(root, "Body")
    payload = next(iter(bodies[0]), None) if bodies else None
    if payload is None:
        return Envelope(error="The SOAP Body names no operation")
    session = None
    for header in _children(root, "Header"):
        found = next((e for e in header.iter() if local_name(e.tag) == "sessionId"), None)
        if found is not None:
            session = (found.text or "").strip()
    return Envelope(call=local_name(payload.tag), call_tag=payload.tag, session_id=session, payload=payload)


@dataclass(frozen=True)
class MergeRequest:
    """One ``request`` of a merge call: the master (type, Id, field values to set on it) and the ids merged in."""

    type_name: str
    master_id: str
    loser_ids: list[str]
    field_values: dict = field(default_factory=dict)


def merge_requests(payload: ET.Element) -> list[MergeRequest]:
    out = []
    for request in _children(payload, "request"):
        master = next(iter(_children(request, "masterRecord")), None)
        type_name, master_id, values = "", "", {}
        for element in master if master is not None else ():
            name, text = local_name(element.tag), (element.text or "").strip()
            if name == "type":
                type_name = text
            elif name.lower() == "id":
                master_id = text
            elif name == "fieldsToNull":
                if text:
                    values[text] = None
            else:
                values[name] = None if element.get(XSI_NIL) == "true" else text
        losers = [(e.text or "").strip() for e in _children(request, "recordToMergeIds")]
        out.append(MergeRequest(type_name, master_id, losers, values))
    return out


# ---- merge response ---------------------------------------------------------------------------------------------
def _errors_xml(errors: list[dict]) -> str:
    return "".join(
        "<errors>" + "".join(f"<fields>{escape(f)}</fields>" for f in e.get("fields", []))
        + f"<message>{escape(e['message'])}</message><statusCode>{escape(e['statusCode'])}</statusCode></errors>"
        for e in errors)


def soap_merge_response(results: list[dict], used: int, allocation: int) -> str:
    """``mergeResponse``: one MergeResult per request, in order; a result with ``errors`` failed."""
    body = []
    for r in results:
        if r.get("errors"):
            body.append(f'<result>{_errors_xml(r["errors"])}<id xsi:nil="true"/><success>false</success></result>')
            continue
        merged = "".join(f"<mergedRecordIds>{i}</mergedRecordIds>" for i in r["mergedRecordIds"])
        related = "".join(f"<updatedRelatedIds>{i}</updatedRelatedIds>" for i in r["updatedRelatedIds"])
        body.append(f"<result><id>{r['id']}</id>{merged}<success>true</success>{related}</result>")
    return (
        f"{_ENVELOPE_OPEN}<soapenv:Header><LimitInfoHeader><limitInfo><current>{used}</current>"
        f"<limit>{allocation}</limit><type>API REQUESTS</type></limitInfo></LimitInfoHeader></soapenv:Header>"
        f"<soapenv:Body><mergeResponse>{''.join(body)}</mergeResponse></soapenv:Body></soapenv:Envelope>"
    )
