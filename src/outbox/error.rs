//! Why a delivery did not happen; `worker::judge` decides from it whether to retry.

use crate::linear::LinearError;
use crate::slack::api::ApiError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub(super) enum DeliveryError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Linear(#[from] LinearError),
    #[error("{0}")]
    Missing(String),
}
