"""The matching keys made canonical, and what is never a key (no stack needed)."""
from __future__ import annotations

import orjson
import pytest

from nexus_sync.entities.keys import email_key, fqdn_key, instance_key, instance_of_arn, mac_key, serial_key
from nexus_sync.entities.sources import row_keys


@pytest.mark.parametrize("mac, key", [
    ("00-50-56-AA-BB-CC", "00:50:56:aa:bb:cc"), ("001122AABBCC", "00:11:22:aa:bb:cc"),
    ("00:00:00:00:00:00", None),  # all-zero: Linux agents report it for lo
    ("ff:ff:ff:ff:ff:ff", None), ("01:00:5e:00:00:fb", None), ("33:33:00:00:00:01", None),  # I/G bit: multicast
    ("02:42:ac:11:00:02", None), ("da:a1:19:00:11:22", None), ("0a-1b-2c-3d-4e-5f", None),  # U/L bit: randomized
    ("00:05:9a:3c:7a:00", None),  # one MAC on every AnyConnect laptop
    ("not a mac", None), (None, None)])
def test_mac_keys(mac, key):
    assert mac_key(mac) == key


@pytest.mark.parametrize("host, domain, key", [
    ("WEB-07", "Acme.Corp", "web-07.acme.corp"), ("lap-22.corp.example.", None, "lap-22.corp.example"),
    ("web-07", None, None), ("web-07", "", None),  # a bare hostname is no key
    ("ip-10-0-1-5.ec2.internal", None, None), ("ip-10-0-1-5.us-west-2.compute.internal", None, None),
    ("10.1.2.3", None, None), ("localhost", "localdomain", None), ("localhost.acme.corp", None, None)])
def test_fqdn_keys(host, domain, key):
    assert fqdn_key(host, domain) == key


def test_serials_emails_and_instances():
    assert serial_key(" vmw-123 456 ") == "VMW-123 456"
    assert [serial_key(s) for s in ("To be filled by O.E.M.", "0", "000000", "None", "", None)] == [None] * 6
    assert email_key(" Jane.Doe@Example.COM ") == "jane.doe@example.com" and email_key("jdoe") is None
    assert instance_key("I-0A1B2C3D4E5F60718") == "i-0a1b2c3d4e5f60718" and instance_key("i-xyz") is None
    assert instance_of_arn("arn:aws:ec2:us-east-1:111122223333:instance/i-0abc1234") == "i-0abc1234"
    assert instance_of_arn("arn:aws:ec2:us-east-1:111122223333:security-group/sg-0abc") is None


def line(data: dict, raw: dict) -> bytes:
    return orjson.dumps(data) + b"\t" + orjson.dumps(raw)


def test_each_source_names_its_asset_where_its_record_does():
    qualys = row_keys("qualys", "vulnerability", "q", line(
        {"uid": "7001:105000:443:tcp", "cve": "CVE-2023-48795", "asset_uid": "7001"},
        {"HOST": {"ID": "7001", "IP": "10.4.4.4", "DNS": "db-2.example"}}))
    assert qualys is not None and qualys.cve == "CVE-2023-48795"
    assert {(k.type, k.value) for k in qualys.keys} == {("asset_id", "q|7001"), ("fqdn", "db-2.example")}
    tenable = row_keys("tenable", "vulnerability", "t", line(
        {"uid": "f1", "cve": "PLUGIN-1", "asset_uid": "a1"}, {"asset": {"uuid": "a1", "hostname": "app-3",
                                                                        "fqdn": "app-3.example.com"}}))
    assert tenable is not None and tenable.cve is None
    assert {(k.type, k.value) for k in tenable.keys} == {("asset_id", "t|a1"), ("fqdn", "app-3.example.com")}
    hub = row_keys("securityhub", "vulnerability", "h", line(
        {"uid": "x", "cve": "CVE-2024-0001", "asset_uid": "arn:aws:ec2:us-east-1:1:instance/i-0abc1234"}, {}))
    assert hub is not None and {(k.type, k.value) for k in hub.keys} == {
        ("cloud_resource", "arn:aws:ec2:us-east-1:1:instance/i-0abc1234"), ("instance_id", "i-0abc1234")}
    user = row_keys("entra", "user", "e", line({"uid": "u1", "email": "a@x.com", "username": "A.B@X.com"}, {}))
    assert user is not None and user.kind == "user"
    assert {(k.type, k.value) for k in user.keys} == {("user_id", "e|u1"), ("email", "a@x.com"), ("email", "a.b@x.com")}
    assert row_keys("thehive", "incident", "th", line({"uid": "c1"}, {})) is None
