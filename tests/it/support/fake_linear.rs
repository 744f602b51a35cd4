//! A local stand-in for Linear's GraphQL API that checks the query and the auth header,
//! keeps the issues and comments it was sent, and can fail on demand.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

#[derive(Debug, Default)]
pub struct Linear {
    pub issues: BTreeMap<String, Value>,
    pub comments: Vec<(String, String)>,
    pub calls: usize,
    /// Answer HTTP 500 to this many calls.
    pub fail_next: usize,
    /// Record the next create but answer 500, as if the answer was lost on the way back.
    pub lose_next_answer: bool,
}

#[derive(Clone)]
pub struct FakeLinear {
    pub state: Arc<Mutex<Linear>>,
    pub url: String,
    key: String,
}

impl FakeLinear {
    pub async fn start(key: &str) -> FakeLinear {
        let state = Arc::new(Mutex::new(Linear::default()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/graphql", listener.local_addr().unwrap());
        let fake = FakeLinear {
            state,
            url,
            key: key.to_string(),
        };
        let app = Router::new()
            .route("/graphql", post(graphql))
            .with_state(fake.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        fake
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut Linear) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }
}

async fn graphql(
    State(fake): State<FakeLinear>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(fake.key.as_str()) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"errors": [{"message": "Authentication required"}]})),
        )
            .into_response();
    }
    let query = body["query"].as_str().unwrap_or_default().to_string();
    let vars = body["variables"].clone();
    let mut st = fake.state.lock().unwrap();
    st.calls += 1;
    if st.fail_next > 0 {
        st.fail_next -= 1;
        return (StatusCode::INTERNAL_SERVER_ERROR, "upstream trouble").into_response();
    }
    if query.contains("issueCreate(input: $input)") {
        let input = &vars["input"];
        let (Some(id), Some(_team), Some(_title)) = (
            input["id"].as_str(),
            input["teamId"].as_str(),
            input["title"].as_str(),
        ) else {
            return Json(json!({"errors": [{"message": "id, teamId and title are required"}]}))
                .into_response();
        };
        if st.issues.contains_key(id) {
            return Json(json!({"errors": [{"message": "Entity already exists"}]})).into_response();
        }
        let issue = json!({"id": id, "url": format!("https://linear.app/acme/issue/INF-{}", st.issues.len() + 1), "input": input});
        st.issues.insert(id.to_string(), issue.clone());
        if st.lose_next_answer {
            st.lose_next_answer = false;
            return (StatusCode::BAD_GATEWAY, "lost").into_response();
        }
        return Json(json!({"data": {"issueCreate": {"success": true, "issue": {"id": issue["id"], "url": issue["url"]}}}})).into_response();
    }
    if query.contains("issue(id: $id)") {
        let found = vars["id"]
            .as_str()
            .and_then(|id| st.issues.get(id))
            .map(|i| json!({"id": i["id"], "url": i["url"]}));
        return Json(json!({"data": {"issue": found}})).into_response();
    }
    if query.contains("commentCreate(input: $input)") {
        let (Some(issue), Some(text)) = (
            vars["input"]["issueId"].as_str(),
            vars["input"]["body"].as_str(),
        ) else {
            return Json(json!({"errors": [{"message": "issueId and body are required"}]}))
                .into_response();
        };
        if !st.issues.contains_key(issue) {
            return Json(json!({"errors": [{"message": "Entity not found"}]})).into_response();
        }
        st.comments.push((issue.to_string(), text.to_string()));
        return Json(json!({"data": {"commentCreate": {"success": true}}})).into_response();
    }
    Json(json!({"errors": [{"message": format!("unexpected query: {query}")}]})).into_response()
}
