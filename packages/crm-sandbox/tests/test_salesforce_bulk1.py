"""Bulk API 1.0 as older extractors and loaders call it: XML and JSON jobs, batches, results, PK chunking."""

from __future__ import annotations

import csv
import io
import json
import re
from xml.etree import ElementTree

import pytest

from tests.clients import SalesforceCredentials, fetch_token, http_session

NS = {"a": "http://www.force.com/2009/06/asyncapi/dataload"}


@pytest.fixture()
def bulk(sandbox):
    info = sandbox["salesforce"]
    session = http_session(info["ca_file"])
    token, instance_url = fetch_token(SalesforceCredentials(
        token_url=info["token_url"], client_id=info["client_id"], client_secret=info["client_secret"]), session)
    session.headers["X-SFDC-Session"] = token
    return session, f"{instance_url}/services/async/59.0/job"


def xml(text: str) -> ElementTree.Element:
    return ElementTree.fromstring(text)


def field(root: ElementTree.Element, name: str) -> str:
    return root.find(f"a:{name}", NS).text


def test_an_xml_query_job_reads_csv_results_and_pk_chunking_splits_them(bulk, sandbox):
    session, jobs = bulk
    names = [f"Bulk One {i}" for i in range(5)]
    for name in names:
        session.post(f"{sandbox['salesforce']['instance_url']}/services/data/v59.0/sobjects/Account",
                     json={"Name": name}, headers={"Authorization": f"Bearer {session.headers['X-SFDC-Session']}"})
    body = ('<?xml version="1.0" encoding="UTF-8"?><jobInfo xmlns="http://www.force.com/2009/06/asyncapi/dataload">'
            "<operation>query</operation><object>Account</object><contentType>CSV</contentType></jobInfo>")
    created = session.post(jobs, data=body, headers={"Content-Type": "application/xml; charset=UTF-8"})
    assert created.status_code == 201 and created.headers["Content-Type"].startswith("application/xml")
    job = xml(created.text)
    assert job.tag == "{http://www.force.com/2009/06/asyncapi/dataload}jobInfo"
    job_id = field(job, "id")
    assert job_id.startswith("750") and field(job, "state") == "Open" and field(job, "operation") == "query"
    soql = "SELECT Id, Name FROM Account WHERE Name LIKE 'Bulk One%' ORDER BY Name"
    batch = xml(session.post(f"{jobs}/{job_id}/batch", data=soql, headers={"Content-Type": "text/csv"}).text)
    batch_id = field(batch, "id")
    assert batch_id.startswith("751") and field(batch, "state") == "Queued"
    polled = xml(session.get(f"{jobs}/{job_id}/batch/{batch_id}").text)
    assert field(polled, "state") == "Completed" and field(polled, "numberRecordsProcessed") == "5"
    [result_id] = [r.text for r in xml(session.get(f"{jobs}/{job_id}/batch/{batch_id}/result").text)]
    rows = list(csv.reader(io.StringIO(session.get(f"{jobs}/{job_id}/batch/{batch_id}/result/{result_id}").text)))
    assert rows[0] == ["Id", "Name"] and [r[1] for r in rows[1:]] == names
    closed = xml(session.post(f"{jobs}/{job_id}", data=f'<jobInfo xmlns="{NS["a"]}"><state>Closed</state></jobInfo>',
                              headers={"Content-Type": "application/xml"}).text)
    assert field(closed, "state") == "Closed" and field(closed, "numberBatchesCompleted") == "1"

    # PK chunking: the original batch is NotProcessed, its rows come in chunks of 2 by Id
    chunked = session.post(jobs, data=body, headers={"Content-Type": "application/xml",
                                                    "Sforce-Enable-PKChunking": "chunkSize=2"})
    chunked_id = field(xml(chunked.text), "id")
    session.post(f"{jobs}/{chunked_id}/batch", data=soql, headers={"Content-Type": "text/csv"})
    listed = xml(session.get(f"{jobs}/{chunked_id}/batch").text).findall("a:batchInfo", NS)
    assert [field(b, "state") for b in listed] == ["NotProcessed", "Completed", "Completed", "Completed"]
    assert [field(b, "numberRecordsProcessed") for b in listed[1:]] == ["2", "2", "1"]


def test_a_json_ingest_job_reports_each_record_and_a_json_query_reads_records(bulk):
    session, jobs = bulk
    job = session.post(jobs, json={"operation": "insert", "object": "Contact", "contentType": "JSON"}).json()
    assert job["state"] == "Open" and job["contentType"] == "JSON"
    batch = session.post(f"{jobs}/{job['id']}/batch", json=[{"LastName": "Bulkone", "Email": "b1@example.org"},
                                                            {"Email": "no-last-name@example.org"}]).json()
    assert session.get(f"{jobs}/{job['id']}/batch/{batch['id']}").json()["numberRecordsFailed"] == 1
    results = session.get(f"{jobs}/{job['id']}/batch/{batch['id']}/result").json()
    assert results[0]["success"] and results[0]["created"] and results[0]["id"].startswith("003")
    assert not results[1]["success"] and results[1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    query = session.post(jobs, json={"operation": "query", "object": "Contact", "contentType": "JSON"}).json()
    qb = session.post(f"{jobs}/{query['id']}/batch", data="SELECT Id, LastName FROM Contact WHERE LastName = 'Bulkone'",
                      headers={"Content-Type": "application/json"}).json()
    [rid] = session.get(f"{jobs}/{query['id']}/batch/{qb['id']}/result").json()
    records = session.get(f"{jobs}/{query['id']}/batch/{qb['id']}/result/{rid}").json()
    assert [(r["attributes"]["type"], r["Id"], r["LastName"]) for r in records] == [
        ("Contact", results[0]["id"], "Bulkone")]


def test_an_xml_ingest_job_takes_sobjects_and_errors_have_bulk_ones_shape(bulk, sandbox):
    session, jobs = bulk
    job = xml(session.post(jobs, data=f'<jobInfo xmlns="{NS["a"]}"><operation>insert</operation><object>Account'
                                      "</object><contentType>XML</contentType></jobInfo>",
                           headers={"Content-Type": "application/xml"}).text)
    records = (f'<sObjects xmlns="{NS["a"]}"><sObject><Name>Xml One</Name></sObject>'
               "<sObject><Name>Xml Two</Name><Website>xml.example.org</Website></sObject></sObjects>")
    batch = xml(session.post(f"{jobs}/{field(job, 'id')}/batch", data=records,
                             headers={"Content-Type": "application/xml"}).text)
    results = xml(session.get(f"{jobs}/{field(job, 'id')}/batch/{field(batch, 'id')}/result").text)
    assert [field(r, "success") for r in results.findall("a:result", NS)] == ["true", "true"]
    assert all(re.match("001", field(r, "id")) for r in results.findall("a:result", NS))
    # no session, an unknown job, a bad operation: Bulk 1.0's error bodies
    anonymous = http_session(sandbox["salesforce"]["ca_file"]).post(
        jobs, data="<jobInfo/>", headers={"Content-Type": "application/xml"})
    assert anonymous.status_code == 400 and field(xml(anonymous.text), "exceptionCode") == "InvalidSessionId"
    assert field(xml(session.get(f"{jobs}/750000000000000AAA").text), "exceptionCode") == "InvalidJob"
    bad = session.post(jobs, json={"operation": "explode", "object": "Account"})
    assert bad.status_code == 400 and json.loads(bad.text)["exceptionCode"] == "InvalidJob"
