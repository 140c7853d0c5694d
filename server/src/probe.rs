//! Native Socket.IO client (filled in next).
