//! The informational Linear issue for Infra, over Linear's GraphQL API. Nothing read from
//! Linear changes a request; a Linear outage only delays these calls (the outbox retries).

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};

use crate::domain::RequestId;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinearError {
    #[error("Linear refused the API key (HTTP {0}); check LINEAR_API_KEY")]
    Auth(u16),
    #[error("Linear answered with errors: {0}")]
    Rejected(String),
    #[error("Linear did not answer properly: {0}")]
    Unavailable(String),
}

impl LinearError {
    /// Whether trying again later can help.
    pub fn is_transient(&self) -> bool {
        matches!(self, LinearError::Unavailable(_))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub id: String,
    pub url: String,
}

#[derive(Clone)]
pub struct LinearClient {
    http: reqwest::Client,
    url: String,
    key: SecretString,
    team_id: String,
}

impl std::fmt::Debug for LinearClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinearClient")
            .field("url", &self.url)
            .field("team_id", &self.team_id)
            .finish_non_exhaustive()
    }
}

const CREATE: &str = "mutation IssueCreate($input: IssueCreateInput!) { issueCreate(input: $input) { success issue { id url } } }";
const LOOKUP: &str = "query Issue($id: String!) { issue(id: $id) { id url } }";
const COMMENT: &str = "mutation CommentCreate($input: CommentCreateInput!) { commentCreate(input: $input) { success } }";

impl LinearClient {
    pub fn new(url: &str, key: SecretString, team_id: &str) -> Result<Self, LinearError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| LinearError::Unavailable(e.to_string()))?;
        Ok(LinearClient {
            http,
            url: url.to_string(),
            key,
            team_id: team_id.to_string(),
        })
    }

    async fn call(&self, query: &str, variables: Value) -> Result<Value, LinearError> {
        let response = self
            .http
            .post(&self.url)
            // Linear's personal API keys go in the header as they are, with no "Bearer".
            .header("Authorization", self.key.expose_secret())
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .map_err(|e| LinearError::Unavailable(e.to_string()))?;
        let status = response.status().as_u16();
        if status == 401 || status == 403 {
            return Err(LinearError::Auth(status));
        }
        if status == 429 || status >= 500 {
            return Err(LinearError::Unavailable(format!("HTTP {status}")));
        }
        let body: Value = response
            .json()
            .await
            .map_err(|e| LinearError::Unavailable(e.to_string()))?;
        if let Some(errors) = body
            .get("errors")
            .and_then(Value::as_array)
            .filter(|e| !e.is_empty())
        {
            let text: Vec<&str> = errors
                .iter()
                .filter_map(|e| e.get("message").and_then(Value::as_str))
                .collect();
            return Err(LinearError::Rejected(text.join("; ")));
        }
        Ok(body.get("data").cloned().unwrap_or(Value::Null))
    }

    /// Creates the request's issue with the request's own id as the issue id, so a retry
    /// after a lost answer finds the issue instead of filing a second one.
    pub async fn create_issue(
        &self,
        request: RequestId,
        title: &str,
        description: &str,
    ) -> Result<Issue, LinearError> {
        let id = request.to_string();
        let input =
            json!({ "id": id, "teamId": self.team_id, "title": title, "description": description });
        match self.call(CREATE, json!({ "input": input })).await {
            Ok(data) => issue_at(&data, "/issueCreate/issue")
                .ok_or_else(|| LinearError::Rejected("issueCreate returned no issue".into())),
            Err(LinearError::Rejected(why)) => match self.call(LOOKUP, json!({ "id": id })).await {
                Ok(data) => issue_at(&data, "/issue").ok_or(LinearError::Rejected(why)),
                Err(_) => Err(LinearError::Rejected(why)),
            },
            Err(e) => Err(e),
        }
    }

    pub async fn comment(&self, issue_id: &str, body: &str) -> Result<(), LinearError> {
        let data = self
            .call(
                COMMENT,
                json!({ "input": { "issueId": issue_id, "body": body } }),
            )
            .await?;
        match data
            .pointer("/commentCreate/success")
            .and_then(Value::as_bool)
        {
            Some(true) => Ok(()),
            _ => Err(LinearError::Rejected(
                "commentCreate did not succeed".into(),
            )),
        }
    }
}

fn issue_at(data: &Value, pointer: &str) -> Option<Issue> {
    let issue = data.pointer(pointer)?;
    Some(Issue {
        id: issue.get("id")?.as_str()?.to_string(),
        url: issue.get("url")?.as_str()?.to_string(),
    })
}
