"""The browser portal: German pages for clerks, approvers, the records office and admins; owns no data."""
