//! The UI components. Each reads the [`Connection`](crate::connection::Connection) from context.

mod composer;
mod header;
mod message_list;
mod sidebar;

pub use composer::Composer;
pub use header::Header;
pub use message_list::MessageList;
pub use sidebar::Sidebar;
