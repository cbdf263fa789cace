"""The pages' forms: plain Django forms (labels, help and errors tied to their fields by Django's aria attributes)."""
from __future__ import annotations

from django import forms
from django.contrib.auth import password_validation

from ..models import NOTIFICATION_CATEGORIES
from ..notifications.channels import CATEGORY_LABELS


class EmailForm(forms.Form):
    email = forms.EmailField(label="E-mail address", max_length=254,
                             widget=forms.EmailInput(attrs={"autocomplete": "email"}))


class TokenForm(forms.Form):
    token = forms.CharField(widget=forms.HiddenInput, max_length=500)


class PasswordSetForm(TokenForm):
    new_password = forms.CharField(
        label="New password", strip=False, max_length=128,
        help_text=" ".join(password_validation.password_validators_help_texts()),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password", "minlength": 8}))
    new_password_again = forms.CharField(
        label="New password, again", strip=False, max_length=128,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password", "minlength": 8}))

    def clean(self):
        cleaned = super().clean()
        first, second = cleaned.get("new_password"), cleaned.get("new_password_again")
        if first and second and first != second:
            self.add_error("new_password_again", "The two passwords differ. Type the same password twice.")
        return cleaned


class EmailPreferencesForm(TokenForm):
    """One checkbox per notification category: checked, its e-mails come."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for category in NOTIFICATION_CATEGORIES:
            self.fields[category] = forms.BooleanField(required=False,
                                                       label=CATEGORY_LABELS[category][:1].upper()
                                                       + CATEGORY_LABELS[category][1:])

    def categories(self):
        return [self[category] for category in NOTIFICATION_CATEGORIES]

    def chosen(self) -> dict[str, bool]:
        return {category: bool(self.cleaned_data.get(category)) for category in NOTIFICATION_CATEGORIES}
