"""Reporting: templates, reports rendered to PDF/CSV/XLSX, schedules that e-mail them, dashboard exports."""
