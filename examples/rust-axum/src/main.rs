//! An axum/tokio API: GET / answers the commit it was built from, /items/{id}
//! answers a typed JSON item (axum rejects a non-numeric id with 400).
use axum::{extract::Path, routing::get, Json, Router};
use serde::Serialize;

#[derive(Serialize)]
struct Item {
    id: u64,
    double: u64,
}

async fn commit() -> String {
    format!("{}\n", std::env::var("PAAS_COMMIT_SHA").unwrap_or_else(|_| "unknown".to_string()))
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn item(Path(id): Path<u64>) -> Json<Item> {
    Json(Item { id, double: id * 2 })
}

#[tokio::main]
async fn main() {
    let port = std::env::var("PORT").unwrap_or_else(|_| "8080".to_string());
    let app = Router::new()
        .route("/", get(commit))
        .route("/healthz", get(healthz))
        .route("/items/{id}", get(item));
    let listener = tokio::net::TcpListener::bind(format!("0.0.0.0:{port}")).await.expect("bind");
    axum::serve(listener, app).await.expect("serve");
}
