"""Demo accounts for ``yiwang demo``: one person, one entity, one client.

The demo client's id and secret are fixed so the printed values stay valid
across restarts. They are for the demo ONLY: real clients get random secrets
from ``yiwang client add``.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from idp import accounts, clients
from idp.models import Client, Entity
from yiwang.database import utcnow
from yiwang.settings import Settings

__all__ = ["seed_demo"]

DEMO_ID_NUMBER = "11010519491231002X"
DEMO_NAME = "张三"
DEMO_PASSWORD = "yiwang-demo-password"
DEMO_USCC = "91350100M000100Y43"
DEMO_ENTITY = "示例科技有限公司"
DEMO_CLIENT_ID = "yiwang-demo"
DEMO_CLIENT_SECRET = "yiwang-demo-secret-NOT-FOR-PRODUCTION"
DEMO_REDIRECT_URI = "http://127.0.0.1:8000/callback"
DEMO_POST_LOGOUT_URI = "http://127.0.0.1:8000/"
# RFC 7636 appendix B's example pair, so the printed URL can be completed by hand.
DEMO_VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
DEMO_CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def seed_demo(session: Session, keystore: accounts.SecretBox,
              settings: Settings) -> list[str]:
    """Create the demo accounts if missing; the lines to print. Seeding twice adds nothing."""
    now = utcnow()
    person = accounts.lookup_person(session, keystore, DEMO_ID_NUMBER)
    if person is None:
        person = accounts.create_person(session, keystore, id_number=DEMO_ID_NUMBER,
                                        name=DEMO_NAME, password=DEMO_PASSWORD, level="L2",
                                        now=now)
    if session.scalar(select(Entity.id).where(Entity.uscc == DEMO_USCC)) is None:
        accounts.create_entity(session, keystore, code=DEMO_USCC, name=DEMO_ENTITY,
                               legal_rep_id_number=DEMO_ID_NUMBER, now=now)
    if session.get(Client, DEMO_CLIENT_ID) is None:
        clients.register_client(session, clients.ClientSpec(
            name="一网演示应用", client_id=DEMO_CLIENT_ID,
            redirect_uris=[DEMO_REDIRECT_URI], post_logout_redirect_uris=[DEMO_POST_LOGOUT_URI],
            grant_types=["authorization_code", "refresh_token"],
            scopes=["openid", "profile", "id_number", "entity"],
        ), now=now, secret=DEMO_CLIENT_SECRET)
    issuer = settings.issuer
    rows = [
        ("OpenID discovery:", f"{issuer}/.well-known/openid-configuration"),
        ("demo client_id:", DEMO_CLIENT_ID),
        ("demo secret:", f"{DEMO_CLIENT_SECRET}  (fixed demo value: never use in production)"),
        ("demo redirect URI:", DEMO_REDIRECT_URI),
        ("demo person:", f"ID number {DEMO_ID_NUMBER}, password {DEMO_PASSWORD}"
                         f" (legal representative of {DEMO_ENTITY}, {DEMO_USCC})"),
        ("try a log-in:", f"{issuer}/authorize?response_type=code&client_id={DEMO_CLIENT_ID}"
                          f"&redirect_uri={DEMO_REDIRECT_URI}&scope=openid+profile&state=demo"
                          f"&code_challenge={DEMO_CHALLENGE}&code_challenge_method=S256"),
        ("", f"then redeem the code with code_verifier={DEMO_VERIFIER}"),
    ]
    return [f"{label:<19}{value}" for label, value in rows]
