//! The login flow over the server's HTTP routes (what the web UI drives): `/oauth/login`,
//! `/oauth/callback` and `/callback`, `/oauth/status`, `/oauth/logout`.

use super::*;

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn query(url: &str) -> std::collections::HashMap<String, String> {
    reqwest::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

async fn start(h: &Harness, path: &str) -> Value {
    let r = h.http.get(h.url(path)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

#[tokio::test]
async fn web_login_status_use_and_logout() {
    let h = Harness::new().await;
    let started = start(&h, "/oauth/login").await;
    let url = started["authorize_url"].as_str().unwrap();
    let port = h.server.local_addr().port();
    assert_eq!(
        started["redirect_uri"],
        format!("http://localhost:{port}/callback")
    );
    assert_eq!(query(url)["state"], started["state"].as_str().unwrap());
    let status = start(&h, "/oauth/status").await;
    assert_eq!(status["login_pending"], true);

    // The browser: authorize page → redirect → the server's own /callback.
    let page = h.http.get(url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page
        .text()
        .await
        .unwrap()
        .contains("Logged in as user@example.com (max)"));

    let status = start(&h, "/oauth/status").await;
    assert_eq!(status["login_pending"], false);
    assert_eq!(status["logged_in"], true);
    assert_eq!(status["account_email"], "user@example.com");
    assert_eq!(status["subscription_type"], "max");
    let saved: Value =
        serde_json::from_slice(&std::fs::read(h.credentials_path()).unwrap()).unwrap();
    assert_eq!(saved["claudeAiOauth"]["accessToken"], "access-login-1");

    // The next proxied request uses the new login.
    h.post("/api/v1/messages", r#"{"max_tokens":16}"#)
        .send()
        .await
        .unwrap();
    let last = h
        .mock
        .requests()
        .into_iter()
        .rfind(|r| r.uri == "/v1/messages")
        .unwrap();
    assert_eq!(last.header("authorization"), "Bearer access-login-1");

    let out: Value = h
        .http
        .post(h.url("/oauth/logout"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(out["logged_out"], true);
    assert_eq!(out["revoked"], true);
    assert_eq!(h.mock.revoked(), ["refresh-login-1"]);
    assert!(!h.credentials_path().exists());
    let status = start(&h, "/oauth/status").await;
    assert_eq!(status["logged_in"], false);
    assert_eq!(status["credentials"]["state"], "missing");
}

#[tokio::test]
async fn login_can_answer_with_a_redirect() {
    let h = Harness::new().await;
    let r = no_redirects()
        .get(h.url("/oauth/login?redirect=true"))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_redirection());
    let location = r.headers()["location"].to_str().unwrap();
    assert!(
        location.starts_with(&format!("{}/oauth/authorize?", h.mock.url())),
        "{location}"
    );
}

#[tokio::test]
async fn manual_code_pasted_into_the_web_ui() {
    let h = Harness::new().await;
    let started = start(&h, "/oauth/login?manual=true").await;
    assert_eq!(
        started["redirect_uri"],
        "https://platform.claude.com/oauth/code/callback"
    );
    let r = no_redirects()
        .get(started["authorize_url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let q = query(r.headers()["location"].to_str().unwrap());
    let done: Value = h
        .http
        .get(h.url("/oauth/callback"))
        .query(&[("code", &q["code"]), ("state", &q["state"])])
        .header("accept", "application/json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(done["logged_in"], true, "{done}");
    assert_eq!(done["account"], "user@example.com (max)");
}

#[tokio::test]
async fn callback_faults_are_clear_and_keep_the_previous_login() {
    let h = Harness::new().await;
    let before = std::fs::read(h.credentials_path()).unwrap();
    let json = |r: reqwest::RequestBuilder| async move {
        let r = r.header("accept", "application/json").send().await.unwrap();
        (r.status().as_u16(), r.json::<Value>().await.unwrap())
    };

    // Malformed queries are 400 in the API's shape.
    let r = h
        .http
        .get(h.url("/oauth/login?manual=perhaps"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["type"],
        "invalid_request_error"
    );

    // No state, unknown state.
    let (status, v) = json(h.http.get(h.url("/callback?code=x"))).await;
    assert_eq!(status, 400);
    assert!(
        v["error"].as_str().unwrap().contains("state mismatch"),
        "{v}"
    );
    let (status, v) = json(h.http.get(h.url("/oauth/callback?code=x&state=forged"))).await;
    assert_eq!(status, 400);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("no login is in progress"),
        "{v}"
    );

    // The provider refuses.
    h.mock.set_authorize_error(Some("access_denied"));
    let started = start(&h, "/oauth/login").await;
    let r = no_redirects()
        .get(started["authorize_url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let (status, v) = json(h.http.get(location.replace("localhost", "127.0.0.1"))).await;
    assert_eq!(status, 400);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("refused: access_denied"),
        "{v}"
    );
    h.mock.set_authorize_error(None);

    // A code used once already.
    let first = start(&h, "/oauth/login?manual=true").await;
    let r = no_redirects()
        .get(first["authorize_url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let q1 = query(r.headers()["location"].to_str().unwrap());
    let (status, _) = json(
        h.http
            .get(h.url("/oauth/callback"))
            .query(&[("code", &q1["code"]), ("state", &q1["state"])]),
    )
    .await;
    assert_eq!(status, 200);
    let after_first = std::fs::read(h.credentials_path()).unwrap();
    let second = start(&h, "/oauth/login?manual=true").await;
    let (status, v) = json(h.http.get(h.url("/oauth/callback")).query(&[
        ("code", q1["code"].as_str()),
        ("state", second["state"].as_str().unwrap()),
    ]))
    .await;
    assert_eq!(status, 400);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("rejected (invalid_grant)"),
        "{v}"
    );
    assert_eq!(
        std::fs::read(h.credentials_path()).unwrap(),
        after_first,
        "the good login is kept"
    );

    // The token endpoint fails.
    h.mock.set_token_failure(Some(500));
    let third = start(&h, "/oauth/login?manual=true").await;
    let r = no_redirects()
        .get(third["authorize_url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let q3 = query(r.headers()["location"].to_str().unwrap());
    let (status, v) = json(
        h.http
            .get(h.url("/oauth/callback"))
            .query(&[("code", &q3["code"]), ("state", &q3["state"])]),
    )
    .await;
    assert_eq!(status, 502);
    assert!(v["error"].as_str().unwrap().contains("answered 500"), "{v}");
    assert_eq!(std::fs::read(h.credentials_path()).unwrap(), after_first);
    assert_ne!(before, after_first);
}

#[tokio::test]
async fn oauth_routes_need_the_api_token_except_the_callback() {
    let h = Harness::with(|c| c.security.auth_token = Some("local-token-123".into())).await;
    for (method, path) in [
        ("GET", "/oauth/login"),
        ("GET", "/oauth/status"),
        ("POST", "/oauth/logout"),
    ] {
        let r = h
            .http
            .request(method.parse().unwrap(), h.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{path}");
    }
    // The callback is protected by `state`, not the token (the browser cannot send one).
    let r = h
        .http
        .get(h.url("/callback?code=x&state=forged"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let started: Value = h
        .http
        .get(h.url("/oauth/login"))
        .header("x-api-key", "local-token-123")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let page = h
        .http
        .get(started["authorize_url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(h.credentials_path().exists());
}
