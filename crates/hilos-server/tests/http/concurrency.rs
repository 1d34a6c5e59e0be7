//! Concurrent upserts of one new phone make one contact and lose nothing.

use std::collections::BTreeSet;

use serde_json::json;

use crate::common::backend::Backend;
use crate::support::{tag_names, TestServer};

crate::backend_tests!(concurrent_upserts_of_one_new_phone_merge_everything);

const REQUESTS: usize = 64;

async fn concurrent_upserts_of_one_new_phone_merge_everything(backend: Backend) {
    let server = std::sync::Arc::new(TestServer::start(backend).await);
    let caller = server.caller().await;
    let formats = [
        "+525512345678",
        "+52 1 55 1234 5678",
        "5215512345678",
        "+52 (55) 1234-5678",
    ];

    let mut tasks = Vec::new();
    for i in 0..REQUESTS {
        let server = server.clone();
        let caller = caller.clone();
        let phone = formats[i % formats.len()];
        tasks.push(tokio::spawn(async move {
            server
                .post_json(
                    &caller,
                    json!({"phone": phone, "meta": {format!("key{i}"): i}, "tags": [{"name": format!("tag{i}")}]}),
                )
                .await
        }));
    }
    let mut ids = BTreeSet::new();
    for task in tasks {
        let reply = task.await.expect("task");
        assert_eq!(reply.status, 201, "{}", reply.body);
        ids.insert(reply.body["id"].as_str().expect("id").to_owned());
    }

    assert_eq!(ids.len(), 1, "every request saw the same contact");
    assert_eq!(server.contact_count().await, 1);
    let contact = server
        .upsert(&caller, json!({"phone": "+525512345678"}))
        .await;
    let meta = contact["meta"].as_object().expect("meta");
    let tags: BTreeSet<String> = tag_names(&contact).into_iter().collect();
    for i in 0..REQUESTS {
        assert_eq!(
            meta.get(&format!("key{i}")),
            Some(&json!(i.to_string())),
            "key{i}"
        );
        assert!(tags.contains(&format!("tag{i}")), "tag{i}");
    }
    assert_eq!(meta.len(), REQUESTS);
    assert_eq!(tags.len(), REQUESTS);
}
