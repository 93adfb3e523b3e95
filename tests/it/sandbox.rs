//! The sandbox portal itself, over real HTTP: the token bucket, the user
//! directory (list, read, create, update, delete), its validation, the
//! token without the directory permission, faults on every write.

use std::time::{Duration, Instant};

use crate::support::sandbox::{LIMITED_TOKEN, RateLimit, TOKEN};
use crate::support::*;
use serde_json::{Value, json};

struct Answer {
    status: u16,
    retry_after: Option<String>,
    body: Value,
}

/// Talks to one sandbox with one token.
struct Portal<'a> {
    sb: &'a Sandbox,
    http: reqwest::Client,
    token: &'a str,
}

impl<'a> Portal<'a> {
    fn new(sb: &'a Sandbox, token: &'a str) -> Portal<'a> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        Portal {
            sb,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap(),
            token,
        }
    }

    async fn call(&self, method: &str, leaf: &str, body: Option<Value>) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self
            .http
            .request(method, self.sb.enterprise_url(leaf))
            .header("Authorization-Token", self.token)
            .header("Accept", "application/json");
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("the sandbox answers");
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        let text = resp.text().await.unwrap_or_default();
        Answer {
            status,
            retry_after,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
        }
    }

    async fn get(&self, leaf: &str) -> Answer {
        self.call("GET", leaf, None).await
    }

    async fn create(&self, user: Value) -> Answer {
        self.call("POST", "/users", Some(json!({ "user": user })))
            .await
    }

    async fn update(&self, id: u64, user: Value) -> Answer {
        self.call(
            "PUT",
            &format!("/users/{id}"),
            Some(json!({ "user": user })),
        )
        .await
    }

    async fn delete(&self, id: u64) -> Answer {
        self.call("DELETE", &format!("/users/{id}"), None).await
    }
}

/// A valid create call's user object.
fn new_user(name: &str) -> Value {
    json!({
        "username": name,
        "email": format!("{name}@westeros.com"),
        "role": "user",
        "group_id": 1,
        "fax_number_type": "enterprise",
        "password_setup_type": "auto",
    })
}

fn sandbox() -> Sandbox {
    Sandbox::start(SandboxConfig::default())
}

fn limited(rate: f64, burst: u32) -> Sandbox {
    Sandbox::start(SandboxConfig {
        rate_limit: Some(RateLimit::new(rate, burst)),
        ..Default::default()
    })
}

#[tokio::test]
async fn the_bucket_admits_a_burst_at_once_then_the_rate() {
    let sb = limited(10.0, 4);
    let p = Portal::new(&sb, TOKEN);
    let mut statuses = Vec::new();
    for i in 0..6 {
        statuses.push(p.create(new_user(&format!("b{i}"))).await.status);
    }
    assert_eq!(statuses[..4], [200; 4], "{statuses:?}");
    assert!(statuses[4..].contains(&429), "{statuses:?}");
    // Then about 10 a second: for 1.5 s, one try every 25 ms.
    let start = Instant::now();
    let (mut ok, mut i) = (0, 0);
    while start.elapsed() < Duration::from_millis(1500) {
        let a = p.create(new_user(&format!("r{i}"))).await;
        i += 1;
        if a.status == 200 {
            ok += 1;
        } else {
            assert_eq!(a.status, 429);
            assert_eq!(
                a.body,
                json!({"result": false, "errors": ["Rate limit exceeded"]})
            );
            let secs: u64 = a.retry_after.as_deref().unwrap().parse().unwrap();
            assert!(secs >= 1);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!((13..=17).contains(&ok), "{ok} admitted in 1.5 s at 10/s");
    // Rejected requests took no token: the store holds exactly the admitted ones.
    assert_eq!(sb.created().len(), sb.count_status(200));
}

#[tokio::test]
async fn retry_after_is_the_wait_for_one_token_in_whole_seconds() {
    let sb = limited(0.4, 1);
    let p = Portal::new(&sb, TOKEN);
    assert_eq!(p.create(new_user("a")).await.status, 200);
    let a = p.create(new_user("b")).await;
    assert_eq!(a.status, 429);
    // 1 token / 0.4 per second = 2.5 s, rounded up.
    assert_eq!(a.retry_after.as_deref(), Some("3"));
    // Lookups and reads are not limited.
    assert_eq!(p.get("/groups").await.status, 200);
    assert_eq!(p.get("/users").await.status, 200);
    let id = sb.user_by_username("a").unwrap()["id"].as_u64().unwrap();
    assert_eq!(p.get(&format!("/users/{id}")).await.status, 200);
    // PUT and DELETE are.
    assert_eq!(p.update(id, json!({"city": "Oldtown"})).await.status, 429);
    assert_eq!(p.delete(id).await.status, 429);
}

#[tokio::test]
async fn the_limit_can_change_while_running() {
    let sb = sandbox();
    let p = Portal::new(&sb, TOKEN);
    for i in 0..5 {
        assert_eq!(p.create(new_user(&format!("free{i}"))).await.status, 200);
    }
    sb.set_rate_limit(Some(RateLimit::new(1.0, 2)));
    assert_eq!(p.create(new_user("x1")).await.status, 200);
    assert_eq!(p.create(new_user("x2")).await.status, 200);
    let a = p.create(new_user("x3")).await;
    assert_eq!((a.status, a.retry_after.as_deref()), (429, Some("1")));
    // Rising: the tokens earned are kept, the rate is the new one.
    sb.set_rate_limit(Some(RateLimit::new(1000.0, 2)));
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(p.create(new_user("x3")).await.status, 200);
    sb.set_rate_limit(None);
    for i in 0..5 {
        assert_eq!(p.create(new_user(&format!("y{i}"))).await.status, 200);
    }
}

#[tokio::test]
async fn create_stores_the_user_and_answers_its_id() {
    let sb = sandbox();
    let p = Portal::new(&sb, TOKEN);
    let mut u = new_user("jon");
    u["password_setup_type"] = json!("force");
    u["password"] = json!("Ghost-1234");
    u["password_confirmation"] = json!("Ghost-1234");
    u["first_name"] = json!("Jon");
    u["language"] = json!("fr");
    u["time_zone"] = json!("Eastern Time (US & Canada)");
    u["group_id"] = json!("13");
    u["fax_number_type"] = json!("selected");
    u["selected_fax_number"] = json!("502");
    u["disable_welcome_email"] = json!(true);
    let a = p.create(u.clone()).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body, json!({"result": true, "data": {"id": 1000}}));
    let a = p.create(new_user("sam")).await;
    assert_eq!(a.body["data"]["id"], 1001);
    assert_eq!(sb.created()[0], u, "created() keeps the object as sent");

    let a = p.get("/users/1000").await;
    assert_eq!(a.status, 200);
    let jon = &a.body["data"];
    assert_eq!(jon["id"], 1000);
    assert_eq!(jon["username"], "jon");
    assert_eq!(jon["role"], "user");
    assert_eq!(jon["first_name"], "Jon");
    assert_eq!(jon["language"], "fr");
    assert_eq!(jon["group_id"], 13);
    assert_eq!(jon["main_fax_number_id"], 502);
    assert_eq!(jon["main_fax_number"], "+442071234567");
    assert_eq!(jon["last_name"], Value::Null);
    assert_eq!(jon["external_id"], Value::Null);
    assert!(jon.get("password").is_none() && jon.get("disable_welcome_email").is_none());
    let keys: Vec<&String> = jon.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 22, "{keys:?}");

    let sam = sb.user_by_username("SAM").unwrap();
    assert_eq!(sam["group_id"], 1);
    assert_eq!(sam["main_fax_number_id"], Value::Null);
}

#[tokio::test]
async fn ids_may_be_strings_or_numbers_and_unknown_ones_fail() {
    let sb = sandbox();
    let p = Portal::new(&sb, TOKEN);
    for (name, group, fax) in [
        ("n", json!(12), json!(501)),
        ("s", json!("12"), json!("501")),
    ] {
        let mut u = new_user(name);
        u["group_id"] = group;
        u["fax_number_type"] = json!("selected");
        u["selected_fax_number"] = fax;
        assert_eq!(p.create(u).await.status, 200);
        let user = sb.user_by_username(name).unwrap();
        assert_eq!(
            (&user["group_id"], &user["main_fax_number_id"]),
            (&json!(12), &json!(501))
        );
    }
    for (group, fax) in [
        (json!("99"), json!("501")),
        (json!("12 "), json!(501)),
        (json!(12), json!("777")),
        (json!(true), json!(501)),
    ] {
        let mut u = new_user("bad");
        u["group_id"] = group.clone();
        u["fax_number_type"] = json!("selected");
        u["selected_fax_number"] = fax.clone();
        let a = p.create(u).await;
        assert_eq!(a.status, 422, "{group} {fax}");
    }
    let id = sb.user_by_username("n").unwrap()["id"].as_u64().unwrap();
    assert_eq!(p.update(id, json!({"group_id": "14"})).await.status, 200);
    assert_eq!(sb.user(id).unwrap()["group_id"], 14);
    assert_eq!(p.update(id, json!({"group_id": 13})).await.status, 200);
    assert_eq!(sb.user(id).unwrap()["group_id"], 13);
    let a = p.update(id, json!({"group_id": "99"})).await;
    assert_eq!(a.body["errors"], json!({"group": ["does not exist"]}));
}

#[tokio::test]
async fn the_list_holds_every_user_by_id() {
    let sb = sandbox();
    sb.add_user("cersei", "cersei@westeros.com");
    let admin = sb.add_user_with(
        "admin",
        json!({"username": "tywin", "email": "tywin@westeros.com", "group_id": "12",
               "main_fax_number_id": 501, "external_id": "AD-7"}),
    );
    assert_eq!(admin, 1001);
    let p = Portal::new(&sb, TOKEN);
    assert_eq!(p.create(new_user("jaime")).await.status, 200);
    let a = p.get("/users").await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["result"], true);
    let users = a.body["data"].as_array().unwrap();
    let names: Vec<&str> = users
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["cersei", "tywin", "jaime"]);
    assert_eq!(users[1]["role"], "admin");
    assert_eq!(users[1]["group_id"], 12);
    assert_eq!(users[1]["main_fax_number"], "+15145550101");
    assert_eq!(users[1]["external_id"], "AD-7");
    assert_eq!(users[0]["role"], "user");
    assert_eq!(users[0]["group_id"], 1);
    assert_eq!(Value::Array(users.clone()), Value::Array(sb.users()));
    // A pre-loaded user's name is taken.
    let mut u = new_user("Cersei");
    u["email"] = json!("other@westeros.com");
    let a = p.create(u).await;
    assert_eq!(
        a.body["errors"],
        json!({"username": ["has already been taken"]})
    );
}

#[tokio::test]
async fn an_unknown_user_is_a_404() {
    let sb = sandbox();
    let p = Portal::new(&sb, TOKEN);
    let not_found = json!({"result": false, "errors": ["User not found"]});
    for a in [
        p.get("/users/1000").await,
        p.get("/users/abc").await,
        p.update(1000, json!({"city": "Oldtown"})).await,
        p.delete(1000).await,
        p.call("DELETE", "/users/x", None).await,
    ] {
        assert_eq!((a.status, &a.body), (404, &not_found));
    }
}

#[tokio::test]
async fn an_update_changes_only_the_fields_sent() {
    let sb = sandbox();
    let id = sb.add_user_with(
        "user",
        json!({"username": "arya", "email": "arya@westeros.com", "first_name": "Arya",
               "language": "en", "city": "Winterfell"}),
    );
    let p = Portal::new(&sb, TOKEN);
    let a = p
        .update(
            id,
            json!({"language": "fr", "time_zone": "Paris", "last_name": "Stark",
                   "fax_number_type": "selected", "selected_fax_number": "502"}),
        )
        .await;
    assert_eq!((a.status, &a.body), (200, &json!({"result": true})));
    let u = sb.user(id).unwrap();
    assert_eq!(u["language"], "fr");
    assert_eq!(u["time_zone"], "Paris");
    assert_eq!(u["last_name"], "Stark");
    assert_eq!(u["first_name"], "Arya");
    assert_eq!(u["city"], "Winterfell");
    assert_eq!(u["main_fax_number_id"], 502);
    assert_eq!(u["main_fax_number"], "+442071234567");
    assert_eq!(
        p.update(
            id,
            json!({"fax_number_type": "enterprise", "role": "admin"})
        )
        .await
        .status,
        200
    );
    let u = sb.user(id).unwrap();
    assert_eq!(u["main_fax_number_id"], Value::Null);
    assert_eq!(u["main_fax_number"], Value::Null);
    assert_eq!(u["role"], "admin");
    assert_eq!(sb.put_bodies().len(), 2);
    assert_eq!(sb.count_method("PUT"), 2);
}

#[tokio::test]
async fn each_invalid_field_of_an_update_is_a_422_and_nothing_changes() {
    let sb = sandbox();
    let id = sb.add_user_with(
        "user",
        json!({"username": "bran", "email": "bran@westeros.com", "language": "en"}),
    );
    let before = sb.user(id).unwrap();
    let p = Portal::new(&sb, TOKEN);
    let cases = [
        (
            json!({"username": "hodor"}),
            json!({"username": ["cannot be changed"]}),
        ),
        (
            json!({"email": "b@w.com"}),
            json!({"email": ["cannot be changed"]}),
        ),
        (json!({"id": 5}), json!({"id": ["cannot be changed"]})),
        (
            json!({"external_id": "X"}),
            json!({"external_id": ["cannot be changed"]}),
        ),
        (
            json!({"department": "Ravens"}),
            json!({"base": ["unknown attribute 'department' for User"]}),
        ),
        (
            json!({"language": "es"}),
            json!({"language": ["is not included in the list"]}),
        ),
        (
            json!({"time_zone": "Europe/Paris"}),
            json!({"time_zone": ["is not included in the list"]}),
        ),
        (
            json!({"group_id": 99}),
            json!({"group": ["does not exist"]}),
        ),
        (
            json!({"fax_number_type": "selected", "selected_fax_number": 777}),
            json!({"selected_fax_number": ["is invalid"]}),
        ),
        (
            json!({"fax_number_type": "enterprise", "selected_fax_number": 501}),
            json!({"selected_fax_number": ["is invalid"]}),
        ),
        (
            json!({"selected_fax_number": 501}),
            json!({"selected_fax_number": ["is invalid"]}),
        ),
        (
            json!({"role": "king"}),
            json!({"role": ["is not included in the list"]}),
        ),
        (
            json!({"city": ""}),
            json!({"city": ["can't be an empty string"]}),
        ),
        (json!({"city": 7}), json!({"city": ["is invalid"]})),
        (
            json!({"city": "Oldtown", "language": "xx"}),
            json!({"language": ["is not included in the list"]}),
        ),
    ];
    for (change, errors) in cases {
        let a = p.update(id, change.clone()).await;
        assert_eq!(a.status, 422, "{change}");
        assert_eq!(
            a.body,
            json!({"result": false, "errors": errors}),
            "{change}"
        );
    }
    assert_eq!(sb.user(id).unwrap(), before);
    let a = p
        .call("PUT", &format!("/users/{id}"), Some(json!({"city": "x"})))
        .await;
    assert_eq!(a.status, 400, "no user object");
}

#[tokio::test]
async fn a_deleted_user_is_gone_and_its_name_free_again() {
    let sb = sandbox();
    let p = Portal::new(&sb, TOKEN);
    let id = p.create(new_user("theon")).await.body["data"]["id"]
        .as_u64()
        .unwrap();
    let a = p.create(new_user("THEON")).await;
    assert_eq!(
        a.body["errors"],
        json!({"username": ["has already been taken"], "email": ["has already been taken"]})
    );
    let a = p.delete(id).await;
    assert_eq!((a.status, &a.body), (200, &json!({"result": true})));
    assert_eq!(p.get(&format!("/users/{id}")).await.status, 404);
    assert_eq!(p.delete(id).await.status, 404);
    let a = p.create(new_user("Theon")).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["data"]["id"], id + 1, "ids are never reused");
    assert_eq!(sb.users().len(), 1);
    assert_eq!(sb.created().len(), 2, "created() is the log of creates");
    assert_eq!(sb.count_method("DELETE"), 2);
    assert_eq!(
        sb.paths("DELETE")[0],
        format!("/enterprises/westeros/users/{id}")
    );
    assert_eq!(sb.write_times().len(), 5);
}

#[tokio::test]
async fn a_token_without_the_directory_permission_cannot_list_users() {
    let sb = sandbox();
    let id = sb.add_user("sansa", "sansa@westeros.com");
    let p = Portal::new(&sb, LIMITED_TOKEN);
    let forbidden = json!({"result": false,
        "errors": ["The access token lacks the Query user directory permission"]});
    for leaf in ["/users".to_owned(), format!("/users/{id}")] {
        let a = p.get(&leaf).await;
        assert_eq!((a.status, &a.body), (403, &forbidden), "{leaf}");
    }
    assert_eq!(p.get("/groups").await.status, 200);
    assert_eq!(p.get("/fax_numbers").await.status, 200);
    let new = p.create(new_user("robb")).await;
    assert_eq!(new.status, 200);
    assert_eq!(p.update(id, json!({"city": "Eyrie"})).await.status, 200);
    assert_eq!(p.delete(id).await.status, 200);
    let wrong = Portal::new(&sb, "nope");
    assert_eq!(wrong.get("/groups").await.status, 401);
    assert_eq!(wrong.delete(1001).await.status, 401);
}

#[tokio::test]
async fn faults_hit_updates_and_deletes_too() {
    let sb = Sandbox::start(SandboxConfig {
        fault_rate: 1.0,
        faults: vec![Fault::CreateThenError500],
        ..Default::default()
    });
    let id = sb.add_user("tyrion", "tyrion@westeros.com");
    let p = Portal::new(&sb, TOKEN);
    assert_eq!(p.update(id, json!({"city": "Meereen"})).await.status, 500);
    assert_eq!(sb.user(id).unwrap()["city"], "Meereen", "applied, then 500");
    assert_eq!(p.delete(id).await.status, 500);
    assert!(sb.user(id).is_none(), "deleted, then 500");

    let sb = Sandbox::start(SandboxConfig {
        fault_rate: 1.0,
        faults: vec![Fault::Reset],
        ..Default::default()
    });
    let id = sb.add_user("varys", "varys@westeros.com");
    let p = Portal::new(&sb, TOKEN);
    let put = p
        .http
        .put(sb.enterprise_url(&format!("/users/{id}")))
        .header("Authorization-Token", TOKEN)
        .json(&json!({"user": {"city": "Pentos"}}))
        .send()
        .await;
    let dropped = match put {
        Err(_) => true,
        Ok(r) => r.bytes().await.is_err(),
    };
    assert!(dropped, "the connection was not dropped");
    assert_eq!(sb.user(id).unwrap()["city"], Value::Null, "nothing applied");
    assert_eq!(sb.fault_counts()["Reset"], 1);
}

#[tokio::test]
async fn the_token_is_revoked_after_n_writes_of_any_kind() {
    let sb = Sandbox::start(SandboxConfig {
        revoke_after: Some(2),
        ..Default::default()
    });
    let id = sb.add_user("ned", "ned@westeros.com");
    let p = Portal::new(&sb, TOKEN);
    assert_eq!(
        p.update(id, json!({"city": "King's Landing"})).await.status,
        200
    );
    assert_eq!(p.get("/users").await.status, 200);
    assert_eq!(p.create(new_user("robert")).await.status, 200);
    assert_eq!(
        p.get("/groups").await.status,
        200,
        "two writes: still valid"
    );
    assert_eq!(p.delete(id).await.status, 401);
    assert_eq!(p.get("/groups").await.status, 401, "revoked for everything");
    assert_eq!(sb.write_count(), 3);
    assert!(sb.user(id).is_some());
}
