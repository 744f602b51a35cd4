//! The Block Kit builders every surface shares (root, thread, DMs, attention marks).

use slack_morphism::blocks::{
    SlackBlock, SlackBlockId, SlackBlockMarkDownText, SlackBlockText, SlackSectionBlock,
};

pub(crate) fn id(s: &str) -> SlackBlockId {
    SlackBlockId(s.to_string())
}

/// A markdown section with a stable `block_id`, so updates replace it in place.
pub(crate) fn section(block_id: &str, text: String) -> SlackBlock {
    SlackSectionBlock::new()
        .with_block_id(id(block_id))
        .with_text(SlackBlockText::MarkDown(SlackBlockMarkDownText::new(text)))
        .into()
}
