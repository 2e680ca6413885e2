"""Fake Salesforce rows for the simulator: users (and their login history), stored as the API's fields with
relationships as {"type", "url", <fields>} and times in Salesforce's own `…000+0000` form."""
from __future__ import annotations

from nexus_sync.simulator import data

OBJECTS: dict[str, tuple[str, ...]] = {
    "User": ("Id", "Username", "Email", "Name", "FirstName", "LastName", "IsActive", "UserType", "Profile.Name",
             "ProfileId", "LastLoginDate", "CreatedDate", "LastModifiedDate", "SystemModstamp"),
    "LoginHistory": ("Id", "UserId", "LoginTime", "LoginType", "SourceIp", "Status", "Application", "Browser",
                     "Platform", "LoginUrl", "CountryIso"),
}
PROFILES = [("00e5e000000SysAdmAAA", "System Administrator"), ("00e5e000000StdUsrAAA", "Standard User"),
            ("00e5e000000SalesAAA", "Custom: Sales Profile"), ("00e5e000000RdOnlyAAA", "Read Only")]
USER_TYPES = ["Standard"] * 17 + ["PowerPartner", "CsnOnly", "AutomatedProcess"]
_GIVEN = ["Jane", "John", "Ada", "Alan", "Grace", "Linus", "Maria", "Wei", "Olu", "Priya", "Sven", "Yuki"]
_FAMILY = ["Doe", "Lovelace", "Turing", "Hopper", "Torvalds", "Garcia", "Zhang", "Adeyemi", "Iyer", "Berg"]
_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def sf_time(ts: int, ms: int = 0) -> str:
    """Salesforce's time text: 2024-06-01T10:00:00.000+0000 (an offset without a colon)."""
    return data.iso_ms_z(ts, ms)[:-1] + "+0000"


def sf_id(prefix: str, n: int) -> str:
    """An 18-character id: the 3-character key prefix, 12 base-62 characters, and the 3-character suffix that
    encodes the case of the first 15 (computed as Salesforce does)."""
    body = prefix
    for _ in range(12):
        n, r = divmod(n, 62)
        body += _B62[r]
    suffix = ""
    for chunk in (body[0:5], body[5:10], body[10:15]):
        bits = sum(1 << i for i, c in enumerate(chunk) if c.isupper())
        suffix += _SUFFIX[bits]
    return body + suffix


def user_records(seed: int, size: int) -> list[dict]:
    rng = data.vendor_rng(seed, "salesforce", "records")
    out = []
    for i in range(size):
        given, family = rng.pick(_GIVEN), rng.pick(_FAMILY)
        profile_id, profile = rng.pick(PROFILES)
        created = rng.between(data.DATA_START, data.DATA_EPOCH - 30 * data.DAY)
        modified = rng.between(created, data.DATA_EPOCH - 60)
        login = rng.between(modified, data.DATA_EPOCH - 30) if rng.random() < 0.8 else None
        uid = sf_id("005", rng.getrandbits(64))
        out.append({
            "Id": uid, "Username": f"{given.lower()}.{family.lower()}{i}@acme.example.com",
            "Email": f"{given.lower()}.{family.lower()}@acme.example.com", "Name": f"{given} {family}",
            "FirstName": given, "LastName": family, "IsActive": rng.random() > 0.1, "UserType": rng.pick(USER_TYPES),
            "ProfileId": profile_id,
            "Profile": {"type": "Profile", "url": f"/services/data/v59.0/sobjects/Profile/{profile_id}", "Name": profile},
            "LastLoginDate": None if login is None else sf_time(login, rng.below(1000)),
            "CreatedDate": sf_time(created, rng.below(1000)),
            "LastModifiedDate": sf_time(modified, rng.below(1000)),
            "SystemModstamp": sf_time(modified, rng.below(1000)),
        })
    return out


LOGIN_TYPES = ["Application"] * 6 + ["Remote Access 2.0", "SAML Sfdc Initiated SSO", "Other Apex API"]
LOGIN_STATUSES = ["Success"] * 8 + ["Invalid Password", "Failed: Computer activation required"]
BROWSERS = ["Chrome 125", "Firefox 126", "Safari 17", "Unknown"]
PLATFORMS = ["Mac OSX", "Windows 10", "Linux", "iOS/iPhone", "Unknown"]


def login_records(seed: int, size: int) -> list[dict]:
    """LoginHistory rows (read-only, kept about six months): one per login of some user, oldest first."""
    rng = data.vendor_rng(seed, "salesforce_logins", "records")
    users = [sf_id("005", rng.getrandbits(64)) for _ in range(max(1, size // 10))]
    out = []
    at = data.DATA_EPOCH - 180 * data.DAY
    for _ in range(size):
        at += 1 + rng.below(max(2, 180 * data.DAY // max(1, size)))
        login_type = rng.pick(LOGIN_TYPES)
        out.append({
            "Id": sf_id("0Ya", rng.getrandbits(64)), "UserId": rng.pick(users), "LoginTime": sf_time(at, rng.below(1000)),
            "LoginType": login_type, "SourceIp": f"198.51.100.{1 + rng.below(254)}", "Status": rng.pick(LOGIN_STATUSES),
            "Application": "Browser" if login_type == "Application" else "Salesforce for Outlook",
            "Browser": rng.pick(BROWSERS), "Platform": rng.pick(PLATFORMS),
            "LoginUrl": "acme.my.salesforce.com", "CountryIso": rng.pick(["DE", "US", "FR", "JP", None]),
        })
    return out
