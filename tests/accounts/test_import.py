"""Bulk card issue from CSV: the service, the operator page and `manage.py import_idtokens`."""

from datetime import UTC, datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from accounts.models import IdToken, IdTokenEvent
from accounts.roles import Role
from accounts.selectors import local_list_version
from accounts.services import id_tokens_import

pytestmark = pytest.mark.django_db

GOOD = """token,type,status,expiry,parent,owner,label
FLEET-ACME,Central,,2027-12-31,,,ACME fleet
04a2b3c4,,,,FLEET-ACME,alice@example.com,Van 12
04A2B3C5,iso15693,blocked,2027-06-30T12:00:00+02:00,fleet-acme,,
"""


def test_a_good_file_issues_every_card_with_its_fields(alice):
    result = id_tokens_import(text=GOOD, actor=alice)
    assert (result.errors, result.created, result.updated, result.unchanged) == ([], 3, 0, 0)
    fleet, van, spare = (IdToken.objects.get(token=t) for t in ("FLEET-ACME", "04A2B3C4", "04A2B3C5"))
    assert fleet.type == "Central"
    assert fleet.expires_at == datetime(2028, 1, 1, tzinfo=UTC)  # valid through 2027-12-31
    assert (van.parent, van.owner, van.label, van.status) == (fleet, alice, "Van 12", "Accepted")
    assert (spare.type, spare.status, spare.parent) == ("ISO15693", "Blocked", fleet)
    assert spare.expires_at == datetime(2027, 6, 30, 10, 0, tzinfo=UTC)
    assert {e.kind for e in IdTokenEvent.objects.all()} == {"created"}
    assert IdTokenEvent.objects.filter(source="import", actor=alice).count() == 3
    assert fleet.list_version == van.list_version == local_list_version().version


def test_importing_the_same_file_again_changes_nothing(alice):
    id_tokens_import(text=GOOD)
    before = (IdTokenEvent.objects.count(), local_list_version().version)
    result = id_tokens_import(text=GOOD)
    assert (result.created, result.updated, result.unchanged) == (0, 0, 3)
    # The import took a version, but no token carries it and no history was written.
    assert IdTokenEvent.objects.count() == before[0]


def test_a_file_updates_existing_tokens_and_empty_cells_leave_fields_alone(make_token):
    card = make_token("CARD-1", label="Kept", status="Accepted")
    result = id_tokens_import(text="token;status;label\ncard-1;Blocked;\n")  # semicolons, as spreadsheets save
    assert (result.errors, result.updated) == ([], 1)
    card.refresh_from_db()
    assert (card.status, card.label) == ("Blocked", "Kept")
    assert card.events.filter(kind="changed").get().changes == {"status": ["Accepted", "Blocked"]}


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", "The file is empty."),
        ("number\n", "The file has no tokens below its header line."),
        ("token,colour\nA,red\n", "line 1: unknown column(s) 'colour'"),
        ("label\nVan\n", "line 1: a 'token' column is required"),
        ("token\nA\nbad token\n", "line 3: token 'BAD TOKEN'"),
        ("token\nA\na\n", "line 3: token A appears again (first on line 2)"),
        ("token,status\nA,lost\n", "line 2: status 'lost' is not one of Accepted, Blocked, Expired, Invalid"),
        ("token,expiry\nA,31/12/2027\n", "line 2: expiry '31/12/2027' is not a date"),
        ("token,owner\nA,nobody\n", "line 2: owner 'nobody' is not an e-mail address"),
        ("token,owner\nA,ghost@example.com\n", "line 2: there is no user with the e-mail address ghost@example.com"),
        ("token,parent\nA,NOPE\n", "line 2: group token NOPE does not exist"),
        ("token,parent\nA,a\n", "line 2: token A cannot be its own group"),
        ("token,parent\nA,B\nB,A\n", "cannot be its own group"),
        ("token\nA,extra\n", "line 2: 2 cells but 1 columns"),
    ],
)
def test_a_bad_file_imports_nothing_and_says_which_line_is_wrong(make_token, text, error):
    make_token("EXISTING")
    result = id_tokens_import(text=text)
    assert any(error in message for message in result.errors), result.errors
    assert (result.created, result.updated) == (0, 0)
    assert list(IdToken.objects.values_list("token", flat=True)) == ["EXISTING"]


def test_one_bad_row_among_good_ones_imports_none_of_them():
    result = id_tokens_import(text="token,status\nGOOD-1,Accepted\nGOOD-2,Accepted\nBAD,lost\n")
    assert result.errors == ["line 4: status 'lost' is not one of Accepted, Blocked, Expired, Invalid"]
    assert not IdToken.objects.exists()


def test_a_dry_run_reports_exactly_and_changes_nothing():
    before = local_list_version().version
    result = id_tokens_import(text=GOOD.replace(",alice@example.com", ","), dry_run=True)
    assert (result.errors, result.created, result.dry_run) == ([], 3, True)
    assert not IdToken.objects.exists()
    assert not IdTokenEvent.objects.exists()
    assert local_list_version().version == before


def test_an_import_of_many_cards_takes_few_queries(django_assert_max_num_queries):
    text = "token,label\n" + "".join(f"CARD-{n:05d},Batch 7\n" for n in range(2000))
    with django_assert_max_num_queries(40):
        result = id_tokens_import(text=text)
    assert result.created == 2000
    assert IdToken.objects.count() == IdTokenEvent.objects.count() == 2000


def test_an_excel_file_with_a_byte_order_mark_is_read(tmp_path):
    path = tmp_path / "cards.csv"
    path.write_bytes("\ufefftoken,label\nA1,Caf\u00e9\n".encode())
    call_command("import_idtokens", str(path))
    assert IdToken.objects.get(token="A1").label == "Caf\u00e9"


def test_the_command_imports_and_prints_a_summary(tmp_path, capsys):
    path = tmp_path / "cards.csv"
    path.write_text("token\nA1\nA2\n")
    call_command("import_idtokens", str(path))
    assert "2 created, 0 updated, 0 unchanged" in capsys.readouterr().out
    assert IdToken.objects.count() == 2


def test_the_command_lists_the_errors_and_fails(tmp_path, capsys):
    path = tmp_path / "cards.csv"
    path.write_text("token,status\nA1,lost\n")
    with pytest.raises(CommandError, match="Nothing imported: 1 problem"):
        call_command("import_idtokens", str(path))
    assert "line 2: status 'lost'" in capsys.readouterr().err
    assert not IdToken.objects.exists()


def test_the_command_refuses_a_file_that_is_not_utf8(tmp_path):
    path = tmp_path / "cards.csv"
    path.write_bytes("token,label\nA1,Caf\u00e9\n".encode("latin-1"))
    with pytest.raises(CommandError, match="not UTF-8"):
        call_command("import_idtokens", str(path))
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("import_idtokens", str(tmp_path / "missing.csv"))


def test_operator_admin_imports_on_the_operator_page(client, staff):
    client.force_login(staff[Role.OPERATOR_ADMIN])
    url = reverse("accounts:id_token_import")
    assert client.get(url).status_code == 200
    upload = SimpleUploadedFile("cards.csv", b"token,label\nA1,Van\n", content_type="text/csv")
    response = client.post(url, {"file": upload})
    assert response.status_code == 200
    assert "1 new, 0 updated, 0 unchanged" in response.content.decode()
    assert IdTokenEvent.objects.get().actor == staff[Role.OPERATOR_ADMIN]


def test_the_operator_page_shows_every_problem_and_imports_nothing(client, staff):
    client.force_login(staff[Role.OPERATOR_ADMIN])
    upload = SimpleUploadedFile("cards.csv", b"token,status\nA1,lost\nA2,gone\n", content_type="text/csv")
    response = client.post(reverse("accounts:id_token_import"), {"file": upload})
    html = response.content.decode()
    assert response.status_code == 400
    assert "the file has 2 problems" in html
    assert "line 2: status &#x27;lost&#x27;" in html and "line 3: status &#x27;gone&#x27;" in html
    assert not IdToken.objects.exists()


def test_the_operator_page_check_only_changes_nothing(client, staff):
    client.force_login(staff[Role.OPERATOR_ADMIN])
    upload = SimpleUploadedFile("cards.csv", b"token\nA1\n", content_type="text/csv")
    response = client.post(reverse("accounts:id_token_import"), {"file": upload, "dry_run": "on"})
    assert "Check passed: nothing was changed" in response.content.decode()
    assert not IdToken.objects.exists()


@pytest.mark.parametrize("role", [Role.TECHNICIAN, Role.FINANCE, Role.ANALYST])
def test_other_roles_may_not_import(client, staff, role):
    client.force_login(staff[role])
    upload = SimpleUploadedFile("cards.csv", b"token\nA1\n", content_type="text/csv")
    assert client.post(reverse("accounts:id_token_import"), {"file": upload}).status_code == 403
    assert not IdToken.objects.exists()
