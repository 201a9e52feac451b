"""Token keys (rotation keeps old tokens valid), per-client ID token algorithm, pairwise subs."""

from __future__ import annotations

import datetime as dt

import requests
from joserfc import jwt
from joserfc.jwk import KeySet

from idp.tokens import PURPOSE
from tests.idp.conftest import Account, Registered
from tests.idp.helpers import Live, add_client
from tests.idp.test_token import code_request, get_code, secret_auth, token
from yiwang.database import utcnow


def issue(live: Live, person: Account, rp: Registered) -> dict[str, str]:
    code, verifier = get_code(live, person, rp)
    response = token(live, code_request(code, verifier), auth=secret_auth(rp))
    assert response.status_code == 200, response.text
    return response.json()


def jwks(live: Live) -> KeySet:
    return KeySet.import_key_set(requests.get(live.url + "/jwks.json", timeout=5).json())


def test_rotated_keys_stay_published_until_their_tokens_expire(live: Live, person: Account,
                                                               rp: Registered) -> None:
    before = issue(live, person, rp)
    old_kid = jwt.decode(before["id_token"], jwks(live), algorithms=["RS256"]).header["kid"]
    with live.session() as session:
        for algorithm in ("RS256", "ES256"):
            live.runtime.keystore.rotate(session, PURPOSE, now=utcnow(), algorithm=algorithm,
                                         publish_for=dt.timedelta(hours=1))
    live.app.extensions["idp"].keys.forget()
    published = jwks(live)
    assert len(published.keys) == 4
    jwt.decode(before["id_token"], published, algorithms=["RS256"])
    userinfo = requests.get(live.url + "/userinfo", timeout=5,
                            headers={"Authorization": "Bearer " + before["access_token"]})
    assert userinfo.status_code == 200
    after = issue(live, person, rp)
    new_kid = jwt.decode(after["id_token"], published, algorithms=["RS256"]).header["kid"]
    assert new_kid != old_kid


def test_client_may_choose_es256_id_tokens(live: Live, person: Account) -> None:
    rp = Registered(*add_client(live.runtime, id_token_alg="ES256"))
    issued = issue(live, person, rp)
    decoded = jwt.decode(issued["id_token"], jwks(live), algorithms=["ES256"])
    assert decoded.header["alg"] == "ES256"


def test_pairwise_subjects_differ_per_sector_and_stay_stable(live: Live, person: Account) -> None:
    def sub(rp: Registered) -> str:
        issued = issue(live, person, rp)
        return str(jwt.decode(issued["id_token"], jwks(live),
                              algorithms=["RS256"]).claims["sub"])

    one = Registered(*add_client(live.runtime, subject_type="pairwise",
                                 sector_identifier="portal-a.example"))
    two = Registered(*add_client(live.runtime, subject_type="pairwise",
                                 sector_identifier="portal-b.example"))
    same_sector = Registered(*add_client(live.runtime, subject_type="pairwise",
                                         sector_identifier="portal-a.example"))
    public = Registered(*add_client(live.runtime))
    first = sub(one)
    assert sub(one) == first == sub(same_sector)
    assert sub(two) != first
    assert sub(public) not in (first, sub(two))
    assert person.id_number not in (first, sub(public))
