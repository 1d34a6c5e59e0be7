//! Create or update a contact, then read it back.
//!
//! ```sh
//! HILOS_BASE_URL=http://127.0.0.1:8000 HILOS_TOKEN=<key> \
//!   cargo run -p hilos-client --example upsert -- "+52 55 1234 5678"
//! ```

use hilos_client::{types, Client, Error, RetryPolicy};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let base_url =
        std::env::var("HILOS_BASE_URL").unwrap_or_else(|_| "http://127.0.0.1:8000".into());
    let token = std::env::var("HILOS_TOKEN").map_err(|_| "set HILOS_TOKEN to an API key")?;
    let phone = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "+52 55 1234 5678".into());

    let client = Client::with_token(&base_url, &token)?.with_retries(RetryPolicy {
        max_retries: 3,
        ..RetryPolicy::default()
    });
    let body = types::PatchedContactEditPublic {
        phone: Some(phone.parse()?),
        first_name: Some("Ana".parse()?),
        meta: [("plan".to_owned(), "gold".into())].into_iter().collect(),
        tags: vec![types::ContactTagRequest {
            name: "vip".parse()?,
        }],
        ..Default::default()
    };
    let contact = match client.create_or_update_contact(&body).await {
        Ok(contact) => contact.into_inner(),
        Err(Error::ErrorResponse(error)) => {
            return Err(format!("{}: {:?}", error.status(), error.into_inner()).into())
        }
        Err(other) => return Err(other.into()),
    };
    println!(
        "{} is contact {}",
        contact.canonical_phone.as_str(),
        contact.id
    );

    let id = contact.id.parse()?;
    let again = client.get_contact(&id).await?.into_inner();
    let tags: Vec<&str> = again.tags.iter().map(|t| t.name.as_str()).collect();
    println!("tags: {tags:?}, meta: {:?}", again.meta);
    Ok(())
}
