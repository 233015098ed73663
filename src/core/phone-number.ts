import mobileExamples from 'libphonenumber-js/mobile/examples';
import {
  getExampleNumber,
  isSupportedCountry,
  parsePhoneNumberWithError,
  type CountryCode,
  type NumberType,
} from 'libphonenumber-js/max';
import { ConfigurationError, InvalidPhoneNumberError } from '../errors.js';

export type { CountryCode, NumberType };

export interface PhoneNumberRules {
  /** Country assumed for numbers written without `+` (default: none, so only E.164 input is accepted). */
  defaultCountry?: CountryCode;
  /**
   * Number types that can receive SMS (default MOBILE, FIXED_LINE_OR_MOBILE, PERSONAL_NUMBER).
   * Premium-rate and other types are refused: texting them is how SMS pumping fraud earns money.
   */
  allowedNumberTypes?: readonly NumberType[];
  /**
   * Countries whose numbers may receive texts (default: every country). SMS pumping fraud texts
   * expensive foreign ranges, so name only the countries your users live in. A number elsewhere
   * is refused with `InvalidPhoneNumberError` code `ERR_PHONE_COUNTRY_NOT_ALLOWED`.
   */
  allowedCountries?: readonly CountryCode[];
}

/** Checks `allowedCountries` once, at construction: a non-empty list of ISO 3166-1 alpha-2 codes. */
export function allowedCountriesOption(value: unknown, owner: string): readonly CountryCode[] | undefined {
  if (value === undefined) return undefined;
  if (
    !Array.isArray(value) ||
    value.length === 0 ||
    !value.every((c) => typeof c === 'string' && isSupportedCountry(c))
  ) {
    throw new ConfigurationError(
      `${owner}: \`allowedCountries\` must be a non-empty array of two-letter country codes such as ['DE', 'AT'].`,
    );
  }
  return Object.freeze([...(value as CountryCode[])]);
}

export const DEFAULT_SMS_NUMBER_TYPES: readonly NumberType[] = [
  'MOBILE',
  'FIXED_LINE_OR_MOBILE',
  'PERSONAL_NUMBER',
];

/**
 * Parses a phone number with libphonenumber-js and answers it in E.164. Throws
 * `InvalidPhoneNumberError` for a number that cannot be parsed, is invalid, or is of a type that
 * cannot receive SMS.
 */
export function normalizeSmsNumber(input: unknown, rules: PhoneNumberRules = {}): string {
  if (typeof input !== 'string' || input.trim() === '') {
    throw new InvalidPhoneNumberError('The phone number is missing.');
  }
  let parsed;
  try {
    parsed = parsePhoneNumberWithError(input, rules.defaultCountry);
  } catch {
    throw new InvalidPhoneNumberError(
      rules.defaultCountry
        ? 'The phone number cannot be parsed.'
        : 'The phone number cannot be parsed: write it in international form (+49…) or set `defaultCountry`.',
    );
  }
  if (!parsed.isValid()) throw new InvalidPhoneNumberError('The phone number is not a valid number.');
  const type = parsed.getType();
  const allowed = rules.allowedNumberTypes ?? DEFAULT_SMS_NUMBER_TYPES;
  if (type === undefined || !allowed.includes(type)) {
    throw new InvalidPhoneNumberError(
      `The phone number cannot receive SMS (it is a ${type ?? 'number of unknown type'}).`,
    );
  }
  if (rules.allowedCountries !== undefined) {
    // A number shared by several countries (e.g. +1) has the country its digits say.
    const country = parsed.country;
    if (country === undefined || !rules.allowedCountries.includes(country)) {
      throw new InvalidPhoneNumberError(
        'Codes cannot be texted to numbers in this country.',
        'ERR_PHONE_COUNTRY_NOT_ALLOWED',
      );
    }
  }
  return parsed.number;
}

/**
 * A valid mobile number (libphonenumber-js's example) of a country these rules accept: of the
 * first of `allowedCountries`, else of `defaultCountry`, else German. For work that must look like
 * parsing a real number, never for texting.
 */
export function sampleSmsNumber(rules: PhoneNumberRules = {}): string {
  const country = rules.allowedCountries?.[0] ?? rules.defaultCountry ?? 'DE';
  return getExampleNumber(country, mobileExamples)?.number ?? '+4915123456789';
}

/** `+4915790000001` → `+49*********01`: enough to recognise, not enough to dial. */
export function maskPhoneNumber(e164: string): string {
  if (e164.length <= 6) return '*'.repeat(e164.length);
  return `${e164.slice(0, 3)}${'*'.repeat(e164.length - 5)}${e164.slice(-2)}`;
}
