//! The commands that make one request and print its answer.

use std::io::Write as _;

use hilos_client::Client;
use serde::Serialize;
use uuid::Uuid;

use crate::api::{ApiError, Retrier};
use crate::cli::{ListArgs, UpdateArgs, UpsertArgs};
use crate::contact::ContactInput;

/// `contacts upsert`: creates the contact or updates the one with the same
/// phone, and prints it.
pub async fn upsert(client: &Client, args: UpsertArgs) -> anyhow::Result<()> {
    let body = body(args.fields.into_input(Some(args.phone)))?;
    let retrier = Retrier::default();
    let contact = retrier.run(|| client.create_or_update_contact(&body)).await;
    print_json(&answer(contact).await?)
}

/// `contacts update`: changes the given fields of the contact with this id.
pub async fn update(client: &Client, args: UpdateArgs) -> anyhow::Result<()> {
    let body = body(args.fields.into_input(args.phone))?;
    let retrier = Retrier::default();
    let contact = retrier
        .run(|| client.partially_update_contact(&args.id, &body))
        .await;
    print_json(&answer(contact).await?)
}

/// `contacts get`: prints one contact.
pub async fn get(client: &Client, id: Uuid) -> anyhow::Result<()> {
    let retrier = Retrier::default();
    let contact = retrier.run(|| client.get_contact(&id)).await;
    print_json(&answer(contact).await?)
}

/// `contacts list`: prints one page (`count`, `next`, `previous`, `results`).
pub async fn list(client: &Client, args: ListArgs) -> anyhow::Result<()> {
    let retrier = Retrier::default();
    let page = retrier
        .run(|| client.list_contacts(args.page, args.page_size, args.search.as_deref()))
        .await;
    print_json(&answer(page).await?)
}

/// `contacts delete`: deletes one contact; prints nothing on standard output.
pub async fn delete(client: &Client, id: Uuid) -> anyhow::Result<()> {
    let retrier = Retrier::default();
    let deleted = retrier.run(|| client.delete_contact(&id)).await;
    answer(deleted).await?;
    eprintln!("deleted contact {id}");
    Ok(())
}

fn body(input: ContactInput) -> anyhow::Result<hilos_client::types::PatchedContactEditPublic> {
    input
        .to_body()
        .map_err(|problems| anyhow::anyhow!(problems.join("; ")))
}

async fn answer<T, E>(
    result: Result<hilos_client::ResponseValue<T>, hilos_client::Error<E>>,
) -> Result<T, ApiError>
where
    E: Serialize + std::fmt::Debug,
{
    match result {
        Ok(value) => Ok(value.into_inner()),
        Err(error) => Err(ApiError::from_client(error).await),
    }
}

/// Prints `value` as pretty JSON; a closed pipe (`| head`) is not an error.
pub fn print_json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}
