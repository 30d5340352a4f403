"""One-time form tokens: a second submission of the same page is refused."""

from flask import Flask, render_template_string

from core import formonce


def _app():
    app = Flask(__name__)
    app.secret_key = "test"
    formonce.init_app(app)
    made = []

    @app.route("/form")
    def form():
        return render_template_string("{{ form_once_field() }}")

    @app.route("/save", methods=["POST"])
    def save():
        if not formonce.consume():
            return "duplicate", 409
        made.append(1)
        return "ok"

    return app, made


def _token(html: str) -> str:
    return html.split('value="')[1].split('"')[0]


def test_token_works_once():
    app, made = _app()
    client = app.test_client()
    token = _token(client.get("/form").get_data(as_text=True))
    assert client.post("/save", data={"form_once": token}).status_code == 200
    assert client.post("/save", data={"form_once": token}).status_code == 409
    assert made == [1]


def test_missing_or_foreign_token_refused():
    app, made = _app()
    client = app.test_client()
    client.get("/form")
    assert client.post("/save", data={}).status_code == 409
    assert client.post("/save", data={"form_once": "made-up"}).status_code == 409
    assert made == []


def test_several_open_forms_each_work_once_and_old_ones_expire():
    app, made = _app()
    client = app.test_client()
    tokens = [_token(client.get("/form").get_data(as_text=True)) for _ in range(formonce.KEEP + 2)]
    # the two oldest were dropped, the others each work once
    assert client.post("/save", data={"form_once": tokens[0]}).status_code == 409
    assert client.post("/save", data={"form_once": tokens[-1]}).status_code == 200
    assert client.post("/save", data={"form_once": tokens[5]}).status_code == 200
    assert client.post("/save", data={"form_once": tokens[5]}).status_code == 409
    assert len(made) == 2
