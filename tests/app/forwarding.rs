//! Behind a proxy: the site's own origin is `PUBLIC_ORIGIN`, else `Host`, with `Forwarded` /
//! `X-Forwarded-Host` / `X-Forwarded-Proto` believed only from `TRUSTED_PROXIES`; the client's
//! IP is the peer's, or `X-Forwarded-For` from `TRUSTED_PROXIES` only: for the per-IP limit on
//! sign-ins and for the activity page.

use member_portal::web::SiteOrigin;
use member_portal::web::TrustedProxies;
use mysql_async::prelude::Queryable;
use reqwest::StatusCode;
use test_support::{spawn_app, spawn_app_with, TestApp};

/// `TRUSTED_PROXIES` as the app reads it.
fn trusted_proxies(list: &str) -> TrustedProxies {
    TrustedProxies::parse(list).unwrap()
}

/// olga signs in with `password`, `headers` on the POST: the status.
async fn olga_signs_in(app: &TestApp, headers: &[(&str, &str)], password: &str) -> StatusCode {
    app.sign_in_with_headers("olga", password, headers)
        .await
        .status()
}

/// A sign-in attempt for `username` with a wrong password, with `X-Forwarded-For: forwarded_for`.
async fn wrong_guess(app: &TestApp, username: &str, forwarded_for: &str) -> StatusCode {
    app.sign_in_with_headers(
        username,
        "not the password",
        &[("x-forwarded-for", forwarded_for)],
    )
    .await
    .status()
}

#[tokio::test]
async fn forwarding_headers_count_from_trusted_proxies_only() {
    // The test client is on 127.0.0.1, here a trusted proxy.
    let app =
        spawn_app_with(|s| s.frontend.trusted_proxies = trusted_proxies("10.0.0.0/8, 127.0.0.1"))
            .await;
    app.register_elsewhere("olga", "Olga", "olgas password")
        .await;
    let proxied = [
        ("origin", "https://portal.example.com"),
        ("x-forwarded-host", "portal.example.com"),
        ("x-forwarded-proto", "https"),
    ];
    let evil = [
        ("origin", "http://evil.example"),
        ("x-forwarded-host", "portal.example.com"),
    ];
    assert_eq!(
        olga_signs_in(&app, &evil, "olgas password").await,
        StatusCode::FORBIDDEN
    );
    let rfc7239 = [
        ("origin", "https://portal.example.com"),
        (
            "forwarded",
            "for=192.0.2.1;host=portal.example.com;proto=https",
        ),
    ];
    assert_eq!(
        olga_signs_in(&app, &rfc7239, "wrong password").await,
        StatusCode::UNAUTHORIZED,
        "past the origin check"
    );
    assert_eq!(
        olga_signs_in(&app, &proxied, "olgas password").await,
        StatusCode::SEE_OTHER
    );

    // The same request from an untrusted peer: its forwarding headers are ignored.
    let untrusted = spawn_app().await;
    untrusted
        .register_elsewhere("olga", "Olga", "olgas password")
        .await;
    assert_eq!(
        olga_signs_in(&untrusted, &proxied, "olgas password").await,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn public_origin_is_the_only_accepted_origin_when_set() {
    let app = spawn_app_with(|s| {
        s.frontend.public_origin = Some(SiteOrigin::parse("https://portal.example.com").unwrap());
    })
    .await;
    app.register_elsewhere("olga", "Olga", "olgas password")
        .await;
    let own_host = [("origin", app.address.as_str())];
    assert_eq!(
        olga_signs_in(&app, &own_host, "olgas password").await,
        StatusCode::FORBIDDEN,
        "the Host header is not the public origin"
    );
    let public = [("origin", "https://portal.example.com")];
    assert_eq!(
        olga_signs_in(&app, &public, "olgas password").await,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_allowance() {
    let app = spawn_app_with(|s| {
        s.login_ip_limit = 2;
        s.frontend.trusted_proxies = trusted_proxies("127.0.0.1");
    })
    .await;
    for n in 0..2 {
        assert_eq!(
            wrong_guess(&app, &format!("x{n}x"), "198.51.100.1").await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        wrong_guess(&app, "x9x", "198.51.100.1").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        wrong_guess(&app, "x9x", "198.51.100.2").await,
        StatusCode::UNAUTHORIZED,
        "another client behind the same proxy"
    );
    // A client cannot pick its address by prepending one: the proxy's own entry counts.
    assert_eq!(
        wrong_guess(&app, "x9x", "10.9.9.9, 198.51.100.1").await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn the_recorded_ip_is_the_forwarded_one_only_from_a_trusted_proxy() {
    for (trusted, expected) in [("", "127.0.0.1"), ("127.0.0.1", "203.0.113.5")] {
        let app = spawn_app_with(|s| s.frontend.trusted_proxies = trusted_proxies(trusted)).await;
        app.register_elsewhere("fay", "Fay", "fays password").await;
        let r = app
            .sign_in_with_headers(
                "fay",
                "fays password",
                &[("x-forwarded-for", "203.0.113.5")],
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{trusted:?}");
        let mut conn = app.pool.get_conn().await.unwrap();
        let ip: String = conn
            .query_first(
                "SELECT ip FROM security_events WHERE kind = 'signin' ORDER BY id DESC LIMIT 1",
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(ip, expected, "TRUSTED_PROXIES={trusted:?}");
    }
}

#[tokio::test]
async fn an_ipv6_client_is_its_64_block_and_unspecified_addresses_are_no_clients() {
    let app = spawn_app_with(|s| {
        s.login_ip_limit = 2;
        s.frontend.trusted_proxies = trusted_proxies("127.0.0.1");
    })
    .await;
    // Forty fresh addresses of one /64 share one allowance.
    for (n, host) in ["1", "2"].iter().enumerate() {
        assert_eq!(
            wrong_guess(&app, &format!("v6x{n}"), &format!("2001:db8:7:7::{host}")).await,
            StatusCode::UNAUTHORIZED
        );
    }
    for n in 3..40 {
        assert_eq!(
            wrong_guess(&app, "v6y", &format!("2001:db8:7:7:{n:x}::{n:x}")).await,
            StatusCode::TOO_MANY_REQUESTS,
            "address {n} of the same /64"
        );
    }
    assert_eq!(
        wrong_guess(&app, "v6z", "2001:db8:7:8::1").await,
        StatusCode::UNAUTHORIZED,
        "the next /64 is another customer"
    );
    // A proxy that writes 0.0.0.0, :: or the broadcast address does not know the client:
    // the request counts as the proxy's own, not as a client of its own.
    for n in 0..2 {
        assert_eq!(
            wrong_guess(&app, &format!("p{n}x"), "127.0.0.1").await,
            StatusCode::UNAUTHORIZED
        );
    }
    for nobody in ["0.0.0.0", "::", "255.255.255.255"] {
        assert_eq!(
            wrong_guess(&app, "pzz", nobody).await,
            StatusCode::TOO_MANY_REQUESTS,
            "{nobody} is no fresh client"
        );
    }
}
